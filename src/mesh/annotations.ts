/**
 * The labels and annotations Skiff reads and writes on other people's
 * objects (Namespaces, Pods, the Mesh, Secrets): the names users type and
 * tools rely on, in one place. API.md documents each.
 */

/** Namespaces with this label (= "enabled") get sidecars under the default injection selector. */
export const INJECTION_LABEL = "skiff.dev/injection";

/** On what the Mesh reconciler generates: which Mesh owns it. */
export const MANAGED_BY_LABEL = "skiff.dev/managed-by";

/** A Pod's opt-out ("false") or opt-in of sidecar injection. */
export const INJECT_ANNOTATION = "sidecar.skiff.dev/inject";
/** What the injector added to a Pod, so that injecting twice changes nothing. */
export const STATUS_ANNOTATION = "sidecar.skiff.dev/status";
/**
 * A Pod's opt-out ("false") of rewriting its HTTP and TCP probes to go
 * through the sidecar agent (Istio's sidecar.istio.io/rewriteAppHTTPProbers).
 */
export const REWRITE_PROBES_ANNOTATION = "sidecar.skiff.dev/rewriteAppHTTPProbers";
/**
 * A Pod's proxy settings, as Istio's proxy.istio.io/config: a ProxyConfig
 * in YAML, of which Skiff reads proxyMetadata (the sidecar's environment,
 * such as SECRET_TTL).
 */
export const PROXY_CONFIG_ANNOTATION = "proxy.skiff.dev/config";
/** Start the application only once the sidecar is ready. */
export const HOLD_ANNOTATION = "proxy.skiff.dev/holdApplicationUntilProxyStarts";
/**
 * Marks a Pod whose application is a proxyless gRPC program: it gets no
 * Envoy sidecar, and the xDS server configures the program itself (its
 * xDS-enabled servers and, with certificates, mTLS).
 */
export const PROXYLESS_ANNOTATION = "proxy.skiff.dev/proxyless";

/**
 * The Services a Pod's sidecar is configured for, as Istio's Sidecar
 * `egress.hosts` (comma-separated `<namespace>/<dnsName>`, see
 * egress-hosts.ts); it replaces the Mesh's `defaults.egressHosts`.
 */
export const EGRESS_HOSTS_ANNOTATION = "sidecar.skiff.dev/egressHosts";

/** Inbound ports (comma-separated) that bypass the sidecar. */
export const EXCLUDE_INBOUND_PORTS_ANNOTATION = "traffic.skiff.dev/excludeInboundPorts";
/** Outbound destination ports (comma-separated) that bypass the sidecar. */
export const EXCLUDE_OUTBOUND_PORTS_ANNOTATION = "traffic.skiff.dev/excludeOutboundPorts";
/** Outbound destination ranges (IPv4 or IPv6 CIDRs, comma-separated) that bypass the sidecar. */
export const EXCLUDE_OUTBOUND_IP_RANGES_ANNOTATION = "traffic.skiff.dev/excludeOutboundIPRanges";

/**
 * The Mesh annotation that asks for a new root after the CA Secret was lost.
 * Its value is the lost root's fingerprint, as status records it, so that a
 * request answers one loss and is never taken for a later one.
 */
export const REGENERATE_CA_ANNOTATION = "skiff.dev/regenerate-ca";

/** On a CA Secret: the time (RFC 3339) from which its signer signs; see pki/signs-from.ts. */
export const SIGNS_FROM_ANNOTATION = "skiff.dev/signs-from";
