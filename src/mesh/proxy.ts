/**
 * The sidecar's contract with everything around it: the user Envoy runs as
 * and the ports it holds in every meshed Pod. The injector (container ports,
 * probes), the iptables rules, the bootstrap, translate (the capture
 * listeners, the passthrough source) and the Mesh's checks read them here.
 */

/** The uid Envoy runs as; iptables lets its own connections through. */
export const PROXY_UID = 1337;

/** Envoy's admin endpoint, on 127.0.0.1 only. */
export const ENVOY_ADMIN_PORT = 15000;

/** Where iptables sends a Pod's outbound connections: the virtualOutbound listener. */
export const OUTBOUND_CAPTURE_PORT = 15001;

/** Where iptables sends a Pod's inbound connections: the virtualInbound listener. */
export const INBOUND_CAPTURE_PORT = 15006;

/**
 * The sidecar agent's application health server (Istio's status port,
 * 15020): the injector points the application's HTTP and TCP probes here
 * (see src/mesh/app-probers.ts), iptables leaves it uncaptured, and the agent
 * makes the original probe from inside the Pod.
 */
export const AGENT_HEALTH_PORT = 15020;

/** The listener that answers the readiness probe at HEALTH_PATH. */
export const HEALTH_PORT = 15021;
export const HEALTH_PATH = "/healthz/ready";

/** The bootstrap's cluster of the Mesh's OTLP collector, which the tracers of the listeners from xDS send to. */
export const OTLP_CLUSTER = "skiff-otlp";

/** The Prometheus listener's port unless the Mesh moves it (observability.metrics.prometheusPort). */
export const DEFAULT_PROMETHEUS_PORT = 15090;

/**
 * The source address of the sidecar's inbound passthrough connections to the
 * application (Istio's 127.0.0.6): iptables lets connections from it through.
 */
export const INBOUND_PASSTHROUGH_SOURCE = { ipv4: "127.0.0.6", ipv6: "::6" } as const;

/**
 * The SDS names of the workload certificate and the trust bundle, which
 * sidecars and `skiff agent` ask for: Istio's, so Envoy configs and tools
 * read the same.
 */
export const WORKLOAD_SECRET = "default";
export const ROOT_CA_SECRET = "ROOTCA";

/**
 * The sidecar's skiff agent serves Envoy on Unix sockets in this folder (an
 * emptyDir the injector mounts): its xDS proxy, and SDS with the workload
 * certificate whose key it made.
 */
export const AGENT_RUN_DIRECTORY = "/var/run/skiff";
export const AGENT_XDS_SOCKET = "xds.sock";
export const AGENT_SDS_SOCKET = "sds.sock";
/** The bootstrap's cluster for the agent's SDS socket, which the translated TLS contexts fetch secrets from. */
export const SDS_CLUSTER = "skiff-sds";
