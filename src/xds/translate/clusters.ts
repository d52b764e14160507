import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import type {
  ConnectionPoolModel,
  EndpointModel,
  LoadBalancerModel,
  OutlierDetectionModel,
  PortProtocol,
  ServiceModel,
  ServicePortModel,
  SubsetModel,
} from "../../ir/model.js";
import { DEFAULT_CONNECT_TIMEOUT_MS } from "../../ir/defaults.js";
import { subsetEndpoints } from "../../ir/queries.js";
import { acceptsMtls, TLS_MODE_MESH } from "./endpoints.js";
import { ADS_SOURCE, compact, duration, socketAddress, typed } from "./json.js";
import {
  inboundClusterName,
  INBOUND_PASSTHROUGH_CLUSTER,
  outboundClusterName,
  outboundSni,
  PASSTHROUGH_CLUSTER,
  spiffeId,
} from "./names.js";
import { CLUSTER_TYPE, type EnvoyResource } from "./resource.js";
import { proxylessUpstreamTlsSocket, RAW_BUFFER_SOCKET, upstreamTlsSocket } from "./secrets.js";
import { INBOUND_PASSTHROUGH_SOURCE } from "../../mesh/proxy.js";

const LB_POLICY: Record<LoadBalancerModel["kind"], string> = {
  RoundRobin: "ROUND_ROBIN",
  LeastRequest: "LEAST_REQUEST",
  Random: "RANDOM",
  RingHash: "RING_HASH",
  Maglev: "MAGLEV",
};

/**
 * One EDS cluster per Service port for the whole Service, and one per port
 * and subset. A cluster with an endpoint that accepts mTLS gets auto mTLS
 * (see {@link autoMtls}).
 */
export function outboundClusters(service: ServiceModel, trustDomain: string): EnvoyResource[] {
  return clusterKeys(service).map(({ port, subset }) =>
    outboundCluster(service, port, subset, {
      transport_socket_matches: autoMtls(service, port, subset, trustDomain),
    }),
  );
}

/**
 * The outbound clusters that proxyless gRPC clients with certificates get in
 * place of the shared ones: those whose endpoints all accept mTLS, with a
 * top-level TLS transport socket on certificate providers. gRPC has no
 * per-endpoint transport socket (it ignores transport_socket_matches), so a
 * cluster mixing mTLS and plaintext-only endpoints stays plaintext.
 */
export function proxylessMtlsClusters(service: ServiceModel, trustDomain: string): EnvoyResource[] {
  return clusterKeys(service).flatMap(({ port, subset }) => {
    const endpoints = subsetEndpoints(service, subset).filter((e) => e.ports[port.name] !== undefined);
    if (endpoints.length === 0 || !endpoints.every((e) => acceptsMtls(e, port.name))) return [];
    const sans = endpointIdentities(endpoints, service.namespace, trustDomain);
    return [outboundCluster(service, port, subset, { transport_socket: proxylessUpstreamTlsSocket(sans) })];
  });
}

/** Each outbound cluster of a Service: one per port for the whole Service, and one per port and subset. */
function clusterKeys(service: ServiceModel): { port: ServicePortModel; subset: SubsetModel | undefined }[] {
  const subsets = [undefined, ...(service.traffic?.subsets ?? [])];
  return service.ports.flatMap((port) => subsets.map((subset) => ({ port, subset })));
}

function outboundCluster(
  service: ServiceModel,
  port: ServicePortModel,
  subset: SubsetModel | undefined,
  transport: Record<string, JsonValue | undefined>,
): EnvoyResource {
  const traffic = service.traffic;
  const name = outboundClusterName(port.port, subset?.name, service.hostname);
  return {
    typeUrl: CLUSTER_TYPE,
    name,
    json: compact({
      name,
      type: "EDS",
      eds_cluster_config: { eds_config: ADS_SOURCE, service_name: name },
      connect_timeout: duration(traffic?.connectionPool?.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS),
      lb_policy: LB_POLICY[traffic?.loadBalancer.kind ?? "RoundRobin"],
      circuit_breakers: traffic?.connectionPool ? circuitBreakers(traffic.connectionPool) : undefined,
      outlier_detection: traffic?.outlierDetection ? outlierDetection(traffic.outlierDetection) : undefined,
      typed_extension_protocol_options: protocolOptions(port.protocol, traffic?.connectionPool),
      ...transport,
    }),
  };
}

/**
 * Auto mTLS, as Istio does it: the client picks TLS per endpoint, so STRICT
 * on the server never causes a 503 and plaintext-only endpoints keep working.
 *
 * - `transport_socket_matches` holds the TLS socket for endpoints whose EDS
 *   metadata says `tlsMode: skiff` (their sidecar accepts mTLS on that port:
 *   STRICT or PERMISSIVE), then raw_buffer for every other endpoint (not
 *   meshed, or DISABLE).
 * - The TLS socket verifies the server's SPIFFE ID against the
 *   ServiceAccounts of this cluster's mTLS endpoints.
 * - A cluster with no such endpoint gets no matches: plaintext, as before.
 * - Never a top-level `transport_socket`: proxyless gRPC clients share these
 *   clusters, and grpc-js-xds NACKs a cluster transport_socket that names
 *   SDS secrets (it only takes certificate-provider instances) while it
 *   ignores transport_socket_matches. Proxyless clients with certificates get
 *   {@link proxylessMtlsClusters} instead.
 */
function autoMtls(
  service: ServiceModel,
  port: ServicePortModel,
  subset: SubsetModel | undefined,
  trustDomain: string,
): JsonObject[] | undefined {
  const capable = subsetEndpoints(service, subset).filter(
    (e) => e.ports[port.name] !== undefined && acceptsMtls(e, port.name),
  );
  if (capable.length === 0) return undefined;
  const sans = endpointIdentities(capable, service.namespace, trustDomain);
  const alpn = port.protocol === "HTTP2" ? ["h2"] : port.protocol === "HTTP" ? ["http/1.1"] : [];
  const sni = outboundSni(port.port, subset?.name, service.hostname);
  return [
    {
      name: `tlsMode-${TLS_MODE_MESH}`,
      match: { tlsMode: TLS_MODE_MESH },
      transport_socket: upstreamTlsSocket(sans, sni, alpn),
    },
    { name: "tlsMode-disabled", match: {}, transport_socket: RAW_BUFFER_SOCKET },
  ];
}

/** The SPIFFE IDs of the Pods behind endpoints, sorted; a Pod's namespace is its own, from `namespace/name`. */
function endpointIdentities(
  endpoints: readonly EndpointModel[],
  serviceNamespace: string,
  trustDomain: string,
): string[] {
  const identity = (endpoint: EndpointModel) =>
    spiffeId(
      trustDomain,
      endpoint.workload?.split("/")[0] ?? serviceNamespace,
      endpoint.serviceAccount ?? "default",
    );
  return [...new Set(endpoints.map(identity))].sort();
}

function circuitBreakers(pool: ConnectionPoolModel): JsonObject | undefined {
  const threshold = compact({
    max_connections: pool.maxConnections,
    max_pending_requests: pool.maxPendingRequests,
    max_requests: pool.maxRequests,
    max_retries: pool.maxRetries,
  });
  return Object.keys(threshold).length > 0 ? { thresholds: [threshold] } : undefined;
}

/**
 * Envoy enforces consecutive gateway failures only when told to, and runs
 * success-rate ejection unless told not to; as in Istio, exactly the
 * detectors the policy names are enforced.
 */
function outlierDetection(o: OutlierDetectionModel): JsonObject {
  return compact({
    consecutive_5xx: o.consecutive5xxErrors,
    enforcing_consecutive_5xx:
      o.consecutive5xxErrors === undefined ? undefined : o.consecutive5xxErrors > 0 ? 100 : 0,
    consecutive_gateway_failure: o.consecutiveGatewayErrors,
    enforcing_consecutive_gateway_failure:
      o.consecutiveGatewayErrors === undefined ? undefined : o.consecutiveGatewayErrors > 0 ? 100 : 0,
    enforcing_success_rate: 0,
    interval: o.intervalMs === undefined ? undefined : duration(o.intervalMs),
    base_ejection_time: o.baseEjectionTimeMs === undefined ? undefined : duration(o.baseEjectionTimeMs),
    max_ejection_percent: o.maxEjectionPercent === undefined ? undefined : Math.round(o.maxEjectionPercent),
  });
}

/** HTTP/2 toward gRPC and HTTP/2 ports, and the connection-level pool settings. */
function protocolOptions(
  protocol: PortProtocol,
  pool: ConnectionPoolModel | undefined,
): JsonObject | undefined {
  const common = compact({
    idle_timeout: pool?.idleTimeoutMs === undefined ? undefined : duration(pool.idleTimeoutMs),
    max_requests_per_connection: pool?.maxRequestsPerConnection || undefined,
  });
  if (protocol !== "HTTP2" && (protocol === "TCP" || Object.keys(common).length === 0)) return undefined;
  return {
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": typed(
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
      compact({
        common_http_protocol_options: Object.keys(common).length > 0 ? common : undefined,
        explicit_http_config:
          protocol === "HTTP2" ? { http2_protocol_options: {} } : { http_protocol_options: {} },
      }),
    ),
  };
}

/** The local application behind a sidecar, on one port. */
export function inboundCluster(port: number, protocol: PortProtocol): EnvoyResource {
  const name = inboundClusterName(port);
  return {
    typeUrl: CLUSTER_TYPE,
    name,
    json: compact({
      name,
      type: "STATIC",
      connect_timeout: duration(DEFAULT_CONNECT_TIMEOUT_MS),
      load_assignment: {
        cluster_name: name,
        endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress("127.0.0.1", port) } }] }],
      },
      typed_extension_protocol_options: protocolOptions(protocol, undefined),
    }),
  };
}

/**
 * Connections to destinations outside the mesh go where they were headed.
 * Inbound ones leave from 127.0.0.6, which skiff-init's iptables rules let
 * through to the application; from any other address they would be captured
 * again and loop back into the proxy (Istio does the same).
 */
export function passthroughClusters(): EnvoyResource[] {
  return [PASSTHROUGH_CLUSTER, INBOUND_PASSTHROUGH_CLUSTER].map((name) => ({
    typeUrl: CLUSTER_TYPE,
    name,
    json: compact({
      name,
      type: "ORIGINAL_DST",
      lb_policy: "CLUSTER_PROVIDED",
      connect_timeout: duration(DEFAULT_CONNECT_TIMEOUT_MS),
      upstream_bind_config:
        name === INBOUND_PASSTHROUGH_CLUSTER
          ? { source_address: { address: INBOUND_PASSTHROUGH_SOURCE.ipv4, port_value: 0 } }
          : undefined,
    }),
  }));
}
