import type { ServiceModel } from "../../ir/model.js";
import { subsetEndpoints } from "../../ir/queries.js";
import { socketAddress } from "./json.js";
import { outboundClusterName } from "./names.js";
import { ENDPOINT_TYPE, type EnvoyResource } from "./resource.js";

/**
 * One ClusterLoadAssignment per outbound cluster. The locality carries an
 * explicit weight because gRPC clients ignore localities without one.
 */
export function clusterLoadAssignments(service: ServiceModel): EnvoyResource[] {
  const subsets = [undefined, ...(service.traffic?.subsets ?? [])];
  return service.ports.flatMap((port) =>
    subsets.map((subset) => {
      const name = outboundClusterName(port.port, subset?.name, service.hostname);
      const lbEndpoints = subsetEndpoints(service, subset)
        .filter((e) => e.ports[port.name] !== undefined)
        .map((e) => ({
          endpoint: { address: socketAddress(e.address, e.ports[port.name]!) },
          health_status: "HEALTHY",
        }));
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
