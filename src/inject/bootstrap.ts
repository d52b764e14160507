/**
 * The Envoy bootstrap that sidecars start from (the file in each meshed
 * namespace's bootstrap ConfigMap). It holds only what cannot come over xDS:
 * where the xDS server is, the admin endpoint, the Prometheus and health
 * listeners that must answer before (and regardless of) any xDS push, the
 * OTLP collector's cluster, and the overload manager. Everything else
 * (listeners, clusters, secrets through SDS) arrives over ADS. The node id and
 * cluster are not in the file: the sidecar passes them as --service-node and
 * --service-cluster from downward-API environment variables (see
 * sidecarArgs), so one file serves every Pod.
 *
 * Pure: same input, byte-identical output.
 */

import { MAX_PROGRAM_SIZE } from "../policy/re2-size.js";
import {
  DEFAULT_PROMETHEUS_PORT,
  HEALTH_PATH,
  HEALTH_PORT,
  OTLP_CLUSTER,
  SDS_CLUSTER,
} from "../mesh/proxy.js";

export interface BootstrapInputs {
  /**
   * Where Envoy gets its configuration: in a sidecar, the Unix socket of
   * skiff agent's xDS proxy (the agent carries each stream to the xDS server
   * over TLS, with the Pod's token); an xDS server's host and port directly
   * only in tests and local experiments (no token, no TLS).
   */
  xds: { socketPath: string } | { host: string; port: number };
  /**
   * The Unix socket of skiff agent's SDS server, where the translated TLS
   * contexts fetch the workload certificate (the SDS_CLUSTER cluster).
   * Without it, a sidecar cannot load mTLS listeners or clusters.
   */
  sdsSocketPath?: string;
  /** Envoy's admin port, bound to 127.0.0.1 only. */
  adminPort: number;
  /** The port of the 0.0.0.0 listener that serves /stats/prometheus. Default 15090. */
  prometheusPort?: number;
  /** The port of the 0.0.0.0 listener that serves /healthz/ready (the readiness probe). Default 15021. */
  healthPort?: number;
  /**
   * The Mesh's observability.tracing.otlpEndpoint (host:port). When set, the
   * bootstrap has the `skiff-otlp` cluster (OTLP over gRPC, so HTTP/2) for the
   * OpenTelemetry tracer of the HCMs that arrive over xDS; those HCMs apply
   * the sampling percentage. Empty or absent: no tracing cluster.
   */
  otlpEndpoint?: string;
  /**
   * The heap size the overload manager measures against: the sidecar
   * container's memory limit (see proxyMemoryLimitBytes in
   * src/controllers/mesh/issues.ts). Default 1 GiB.
   */
  maxHeapSizeBytes?: number;
  /** The most downstream connections the sidecar holds open, over all listeners. Default 100000. */
  maxDownstreamConnections?: number;
}

export const XDS_CLUSTER = "skiff-xds";
export const ADMIN_CLUSTER = "skiff-admin";
export const PROMETHEUS_LISTENER = "skiff-prometheus";
export const HEALTH_LISTENER = "skiff-health";

export const DEFAULT_MAX_HEAP_SIZE_BYTES = 1024 * 1024 * 1024;
export const DEFAULT_MAX_DOWNSTREAM_CONNECTIONS = 100_000;

/** Where the sidecar mounts the bootstrap ConfigMap's envoy.json. */
export const BOOTSTRAP_PATH = "/etc/skiff/bootstrap/envoy.json";

/**
 * The RE2 program size over which Envoy refuses a regex (its default is
 * 100). Admission refuses patterns whose estimated size is over
 * MAX_PROGRAM_SIZE; the estimate can be a few instructions short of RE2's
 * own count (`a{2,300}`: 598 estimated, 602 in Envoy), hence the headroom.
 * Without this, a TrafficPolicy with such a regex was admitted and every
 * sidecar refused its route configuration.
 */
export const ENVOY_RE2_MAX_PROGRAM_SIZE = 2 * MAX_PROGRAM_SIZE;

const FIXED_HEAP = "envoy.resource_monitors.fixed_heap";
// The overload manager knows this proactive monitor by this name; its
// extension (envoy.resource_monitors.downstream_connections) is picked by the
// typed_config. It replaces the deprecated overload.global_downstream_max_connections
// runtime key.
const DOWNSTREAM_CONNECTIONS = "envoy.resource_monitors.global_downstream_max_connections";

/**
 * How soon Envoy opens a new ADS stream to the agent after one ends. Envoy's
 * default backoff grows to 30 s, and while the xDS server restarts every try
 * fails at once (the agent ends the stream when it cannot reach the server),
 * so a sidecar came back 11 to 25 s after the server did. Capped at 5 s, the
 * retries stay cheap: one local Unix-socket stream per try.
 */
const XDS_STREAM_RETRY = { retry_back_off: { base_interval: "0.5s", max_interval: "5s" } };

/**
 * The bootstrap JSON (protojson field names; 64-bit integers as strings, as
 * protojson writes them).
 *
 * - Throws on an otlpEndpoint that is not host:port, or on ports or limits out of range.
 */
export function renderBootstrap(inputs: BootstrapInputs): string {
  const prometheusPort = inputs.prometheusPort ?? DEFAULT_PROMETHEUS_PORT;
  const healthPort = inputs.healthPort ?? HEALTH_PORT;
  const maxHeap = inputs.maxHeapSizeBytes ?? DEFAULT_MAX_HEAP_SIZE_BYTES;
  const maxConnections = inputs.maxDownstreamConnections ?? DEFAULT_MAX_DOWNSTREAM_CONNECTIONS;
  for (const [name, port] of [
    ...("port" in inputs.xds ? [["xdsPort", inputs.xds.port] as const] : []),
    ["adminPort", inputs.adminPort],
    ["prometheusPort", prometheusPort],
    ["healthPort", healthPort],
  ] as const)
    assertPort(name, port);
  if (!Number.isSafeInteger(maxHeap) || maxHeap <= 0)
    throw new Error(`maxHeapSizeBytes: ${maxHeap} is not a positive integer`);
  if (!Number.isSafeInteger(maxConnections) || maxConnections <= 0)
    throw new Error(`maxDownstreamConnections: ${maxConnections} is not a positive integer`);
  const otlp = inputs.otlpEndpoint ? hostPort(inputs.otlpEndpoint) : undefined;

  const bootstrap = {
    admin: { address: socketAddress("127.0.0.1", inputs.adminPort) },
    dynamic_resources: {
      ads_config: {
        api_type: "DELTA_GRPC",
        transport_api_version: "V3",
        grpc_services: [{ envoy_grpc: { cluster_name: XDS_CLUSTER, retry_policy: XDS_STREAM_RETRY } }],
        set_node_on_first_message_only: true,
      },
      // Without config a proxy must not be Ready: Envoy would go LIVE after
      // the default 15 s initial_fetch_timeout with no listeners at all, and
      // its Pod would take traffic it cannot route. 0s waits for the first
      // CDS and LDS responses however long they take, as Istio's bootstrap does.
      cds_config: { ads: {}, initial_fetch_timeout: "0s", resource_api_version: "V3" },
      lds_config: { ads: {}, initial_fetch_timeout: "0s", resource_api_version: "V3" },
    },
    static_resources: {
      listeners: [
        adminProxyListener(PROMETHEUS_LISTENER, prometheusPort, {
          match: { prefix: "/stats/prometheus" },
          route: { cluster: ADMIN_CLUSTER },
        }),
        // Envoy's /ready answers 200 once the server is LIVE, which is after
        // the first CDS and LDS responses were applied (no timeout: see above).
        adminProxyListener(HEALTH_LISTENER, healthPort, {
          match: { path: HEALTH_PATH },
          route: { cluster: ADMIN_CLUSTER, prefix_rewrite: "/ready" },
        }),
      ],
      clusters: [
        "socketPath" in inputs.xds
          ? pipeCluster(XDS_CLUSTER, inputs.xds.socketPath)
          : dnsCluster(XDS_CLUSTER, inputs.xds.host, inputs.xds.port),
        {
          name: ADMIN_CLUSTER,
          type: "STATIC",
          connect_timeout: "1s",
          load_assignment: endpoints(ADMIN_CLUSTER, "127.0.0.1", inputs.adminPort),
        },
        ...(inputs.sdsSocketPath ? [pipeCluster(SDS_CLUSTER, inputs.sdsSocketPath)] : []),
        ...(otlp ? [dnsCluster(OTLP_CLUSTER, otlp.host, otlp.port)] : []),
      ],
    },
    layered_runtime: {
      layers: [
        { name: "static", static_layer: { "re2.max_program_size.error_level": ENVOY_RE2_MAX_PROGRAM_SIZE } },
        // Envoy's default runtime when a bootstrap names none: /runtime_modify keeps working.
        { name: "admin", admin_layer: {} },
      ],
    },
    overload_manager: {
      refresh_interval: "0.250s",
      resource_monitors: [
        {
          name: FIXED_HEAP,
          typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig",
            max_heap_size_bytes: String(maxHeap),
          },
        },
        {
          name: DOWNSTREAM_CONNECTIONS,
          typed_config: {
            "@type":
              "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig",
            max_active_downstream_connections: String(maxConnections),
          },
        },
      ],
      actions: [
        heapAction("envoy.overload_actions.shrink_heap", 0.95),
        heapAction("envoy.overload_actions.stop_accepting_requests", 0.98),
      ],
    },
  };
  return JSON.stringify(bootstrap, null, 2) + "\n";
}

/** A listener on 0.0.0.0 with one route to the admin endpoint; anything else gets a 404. */
function adminProxyListener(name: string, port: number, route: Record<string, unknown>) {
  return {
    name,
    address: socketAddress("0.0.0.0", port),
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type":
                "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
              stat_prefix: name,
              route_config: {
                name,
                virtual_hosts: [{ name, domains: ["*"], routes: [route] }],
              },
              http_filters: [
                {
                  name: "envoy.filters.http.router",
                  typed_config: {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
                  },
                },
              ],
            },
          },
        ],
      },
    ],
  };
}

const HTTP2_ONLY = {
  "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
    "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
    explicit_http_config: { http2_protocol_options: {} },
  },
};

/** A STRICT_DNS cluster that speaks HTTP/2 (gRPC) to one host. */
function dnsCluster(name: string, host: string, port: number) {
  return {
    name,
    type: "STRICT_DNS",
    connect_timeout: "1s",
    typed_extension_protocol_options: HTTP2_ONLY,
    load_assignment: endpoints(name, host, port),
  };
}

/** A STATIC cluster that speaks HTTP/2 (gRPC) to a Unix socket. */
function pipeCluster(name: string, path: string) {
  return {
    name,
    type: "STATIC",
    connect_timeout: "1s",
    typed_extension_protocol_options: HTTP2_ONLY,
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path } } } }] }],
    },
  };
}

function endpoints(cluster: string, host: string, port: number) {
  return {
    cluster_name: cluster,
    endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(host, port) } }] }],
  };
}

function socketAddress(address: string, port: number) {
  return { socket_address: { address, port_value: port } };
}

function heapAction(name: string, threshold: number) {
  return { name, triggers: [{ name: FIXED_HEAP, threshold: { value: threshold } }] };
}

function assertPort(name: string, port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`${name}: ${port} is not a port number (1-65535)`);
}

/** host:port, as the Mesh's otlpEndpoint is written (a DNS name or IPv4 address; no IPv6 literal). */
function hostPort(endpoint: string): { host: string; port: number } {
  const match = /^([^\s:]+):([0-9]{1,5})$/.exec(endpoint);
  const port = Number(match?.[2]);
  if (!match || port < 1 || port > 65535)
    throw new Error(
      `otlpEndpoint: "${endpoint}" is not host:port, such as otel-collector.observability:4317`,
    );
  return { host: match[1]!, port };
}

export type ProxyLogLevel = "trace" | "debug" | "info" | "warning" | "error" | "critical" | "off";

export interface SidecarArgsInputs {
  /** The Mesh's injection.proxy.logLevel. Default warning. */
  logLevel?: ProxyLogLevel;
  /** The Mesh's injection.proxy.concurrency; 0 means one worker per CPU. Default 2. */
  concurrency?: number;
  /** The cluster's DNS domain, in the node id. Default cluster.local. */
  clusterDomain?: string;
  /**
   * Envoy's --service-cluster, which the OpenTelemetry tracer reports as the
   * service name and stats use as the local cluster. Istio uses
   * <workload>.<namespace>; the injector may pass that. Default: the Pod's namespace.
   */
  serviceCluster?: string;
}

/**
 * The Envoy container's arguments. The node id is the one the xDS server
 * parses, `sidecar~<pod IP>~<pod>.<namespace>~<namespace>.svc.<domain>`,
 * written with Kubernetes $(VAR) expansion of the container's downward-API
 * environment: POD_IP (status.podIP), POD_NAME (metadata.name) and
 * POD_NAMESPACE (metadata.namespace). Pure.
 *
 * With concurrency 0, Envoy gets --cpuset-threads instead of --concurrency:
 * one worker per CPU in the container's cpuset (all of the node's CPUs unless
 * the kubelet pins CPUs; a CPU limit alone does not narrow it).
 */
export function sidecarArgs(inputs: SidecarArgsInputs = {}): string[] {
  const concurrency = inputs.concurrency ?? 2;
  if (!Number.isInteger(concurrency) || concurrency < 0)
    throw new Error(`concurrency: ${concurrency} is not a non-negative integer`);
  const domain = inputs.clusterDomain ?? "cluster.local";
  return [
    "-c",
    BOOTSTRAP_PATH,
    "--service-node",
    `sidecar~$(POD_IP)~$(POD_NAME).$(POD_NAMESPACE)~$(POD_NAMESPACE).svc.${domain}`,
    "--service-cluster",
    inputs.serviceCluster ?? "$(POD_NAMESPACE)",
    "--log-level",
    inputs.logLevel ?? "warning",
    ...(concurrency > 0 ? ["--concurrency", String(concurrency)] : ["--cpuset-threads"]),
    // When an update changes a listener's filter chain (a new AuthorizationPolicy
    // changes every inbound chain of its workloads), connections already open on
    // the old chain keep its filters, RBAC included, until they close. Envoy's
    // default drain (gradual over 600 s) left them so for minutes; Istio's
    // (immediate, 45 s) closes each HTTP connection after its next response and
    // every connection of the old chain after 45 s.
    "--drain-strategy",
    "immediate",
    "--drain-time-s",
    String(LISTENER_DRAIN_SECONDS),
  ];
}

/** How long connections on a changed or removed listener chain live on (Istio's drainDuration). */
const LISTENER_DRAIN_SECONDS = 45;
