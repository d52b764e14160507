import type { EndpointModel, ServiceModel, TelemetryModel } from "../../ir/model.js";
import { subsetEndpoints } from "../../ir/queries.js";
import { socketAddress } from "./json.js";
import { outboundClusterName } from "./names.js";
import { ENDPOINT_TYPE, type EnvoyResource } from "./resource.js";
import { peerMetadata } from "./telemetry-peers.js";

/** The metadata namespace Envoy reads for a cluster's transport_socket_matches. */
const TRANSPORT_SOCKET_MATCH = "envoy.transport_socket_match";
/** The tlsMode of endpoints that accept mTLS, as Istio's `tlsMode: istio`. */
export const TLS_MODE_MESH = "skiff";

/** Whether the endpoint's sidecar accepts mTLS on this Service port (STRICT or PERMISSIVE). */
export function acceptsMtls(endpoint: EndpointModel, portName: string): boolean {
  const mode = endpoint.mtls?.[portName];
  return mode === "STRICT" || mode === "PERMISSIVE";
}

/**
 * One ClusterLoadAssignment per outbound cluster. The locality carries an
 * explicit weight because gRPC clients ignore localities without one.
 * Endpoints that accept mTLS carry `tlsMode: skiff` in the
 * `envoy.transport_socket_match` metadata, which selects the cluster's TLS
 * transport socket for them (Istio's auto mTLS); the others get none and
 * fall to plaintext. With telemetry, each endpoint also names its workload,
 * for the client's metrics.
 */
export function clusterLoadAssignments(service: ServiceModel, telemetry?: TelemetryModel): EnvoyResource[] {
  const subsets = [undefined, ...(service.traffic?.subsets ?? [])];
  return service.ports.flatMap((port) =>
    subsets.map((subset) => {
      const name = outboundClusterName(port.port, subset?.name, service.hostname);
      const lbEndpoints = subsetEndpoints(service, subset)
        .filter((e) => e.ports[port.name] !== undefined)
        .map((e) => {
          const metadata = {
            ...(acceptsMtls(e, port.name) ? { [TRANSPORT_SOCKET_MATCH]: { tlsMode: TLS_MODE_MESH } } : {}),
            ...(telemetry ? peerMetadata(e) : {}),
          };
          return {
            endpoint: { address: socketAddress(e.address, e.ports[port.name]!) },
            health_status: "HEALTHY",
            ...(Object.keys(metadata).length > 0 ? { metadata: { filter_metadata: metadata } } : {}),
          };
        });
      return {
        typeUrl: ENDPOINT_TYPE,
        name,
        json: {
          cluster_name: name,
          endpoints:
            lbEndpoints.length > 0
              ? [{ locality: {}, load_balancing_weight: 1, lb_endpoints: lbEndpoints }]
              : [],
        },
      };
    }),
  );
}
