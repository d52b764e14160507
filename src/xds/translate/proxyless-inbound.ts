import type { JsonObject } from "@bufbuild/protobuf";
import type { MeshModel, WorkloadModel } from "../../ir/model.js";
import { rbacFilters } from "./authorization.js";
import { servedPorts, type ServedPort } from "./inbound.js";
import { socketAddress, typed } from "./json.js";
import { HCM_FILTER, ROUTER_FILTER } from "./listeners.js";
import { proxylessServerListenerName } from "./names.js";
import { LISTENER_TYPE, type EnvoyResource } from "./resource.js";
import { proxylessDownstreamTlsSocket } from "./secrets.js";

/**
 * A proxyless gRPC workload's inbound side: the Listeners its xDS-enabled
 * gRPC servers ask for (gRPC A36), one per served port and listening address.
 * A server may listen on the Pod IP or on a wildcard, and asks for the
 * listener named after the address it bound, so each port gets all three.
 *
 * Each listener has one filter chain and no match (gRPC matches nothing but
 * `raw_buffer` and NACKs listener filters):
 * - STRICT: mTLS on the bootstrap's certificate providers, client
 *   certificate required; DISABLE (and PERMISSIVE, which a gRPC server
 *   serves as plaintext, see `servedMtlsMode`): plaintext.
 * - An HTTP connection manager with the workload's AuthorizationPolicies as
 *   RBAC filters (gRPC enforces them with GRPC_XDS_EXPERIMENTAL_RBAC=true in
 *   grpc-js-xds, always in grpc-go), then the router, and an inline route
 *   that accepts every call (`non_forwarding_action`: the server handles it).
 * - No local rate limit: gRPC has no such filter, and would NACK it.
 */
export function proxylessInboundResources(model: MeshModel, workload: WorkloadModel): EnvoyResource[] {
  return servedPorts(model, workload).flatMap((served) =>
    listeningAddresses(workload.address).map(({ ip, name }) => {
      const listenerName = proxylessServerListenerName(`${name}:${served.port}`);
      return {
        typeUrl: LISTENER_TYPE,
        name: listenerName,
        json: {
          name: listenerName,
          address: socketAddress(ip, served.port),
          filter_chains: [serverChain(model, workload, served)],
        },
      };
    }),
  );
}

/** The Pod IP and the wildcards, as an IP and as written in a listening address (IPv6 in brackets). */
function listeningAddresses(podIp: string): { ip: string; name: string }[] {
  const bracket = (ip: string) => (ip.includes(":") ? `[${ip}]` : ip);
  return [podIp, "0.0.0.0", "::"].map((ip) => ({ ip, name: bracket(ip) }));
}

function serverChain(model: MeshModel, workload: WorkloadModel, served: ServedPort): JsonObject {
  const rbac =
    workload.authorization.length > 0
      ? rbacFilters(workload.authorization, { trustDomain: model.trustDomain, protocol: "HTTP" })
      : [];
  const mtls = served.mtls === "STRICT";
  return {
    name: `inbound|${served.port}|${mtls ? "mtls" : "plaintext"}`,
    filters: [
      {
        name: HCM_FILTER,
        typed_config: typed(
          "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
          {
            stat_prefix: `inbound_${served.port}`,
            route_config: {
              name: "inbound",
              virtual_hosts: [
                {
                  name: "inbound",
                  domains: ["*"],
                  routes: [{ match: { prefix: "/" }, non_forwarding_action: {} }],
                },
              ],
            },
            http_filters: [...rbac, ROUTER_FILTER],
          },
        ),
      },
    ],
    ...(mtls ? { transport_socket: proxylessDownstreamTlsSocket() } : {}),
  };
}
