import type { JsonObject } from "@bufbuild/protobuf";
import type { LocalRateLimitModel, MeshModel, PortProtocol, WorkloadModel } from "../../ir/model.js";
import { rbacFilters } from "./authorization.js";
import { inboundCluster } from "./clusters.js";
import { duration, socketAddress, typed } from "./json.js";
import { HCM_FILTER, passthroughChain, ROUTER_FILTER, TCP_PROXY_FILTER } from "./listeners.js";
import {
  inboundClusterName,
  INBOUND_CAPTURE_PORT,
  INBOUND_PASSTHROUGH_CLUSTER,
  VIRTUAL_INBOUND,
} from "./names.js";
import { LISTENER_TYPE, type EnvoyResource } from "./resource.js";

/** One port the workload serves, as the Services that select it describe it. */
interface ServedPort {
  readonly port: number;
  readonly protocol: PortProtocol;
  readonly rateLimit?: LocalRateLimitModel;
}

/**
 * The ports a workload serves: each target port of each Service with the
 * workload among its endpoints. When two Services share a target port, the
 * first (by namespace and name) decides its protocol and rate limit.
 */
function servedPorts(model: MeshModel, workload: WorkloadModel): ServedPort[] {
  const ports = new Map<number, ServedPort>();
  for (const service of model.services) {
    const endpoint = service.endpoints.find((e) => e.workload === workload.key);
    if (!endpoint) continue;
    for (const servicePort of service.ports) {
      const port = endpoint.ports[servicePort.name];
      if (port === undefined || ports.has(port)) continue;
      const rateLimit = service.traffic?.localRateLimit;
      ports.set(port, { port, protocol: servicePort.protocol, ...(rateLimit ? { rateLimit } : {}) });
    }
  }
  return [...ports.values()].sort((a, b) => a.port - b.port);
}

/** A sidecar's inbound side: virtualInbound, with one filter chain per served port, and the local clusters. */
export function inboundResources(model: MeshModel, workload: WorkloadModel): EnvoyResource[] {
  const ports = servedPorts(model, workload);
  const listener: EnvoyResource = {
    typeUrl: LISTENER_TYPE,
    name: VIRTUAL_INBOUND,
    json: {
      name: VIRTUAL_INBOUND,
      address: socketAddress("0.0.0.0", INBOUND_CAPTURE_PORT),
      traffic_direction: "INBOUND",
      listener_filters: [
        {
          name: "envoy.filters.listener.original_dst",
          typed_config: typed("envoy.extensions.filters.listener.original_dst.v3.OriginalDst"),
        },
      ],
      filter_chains: ports.map((port) => inboundChain(model, workload, port)),
      default_filter_chain: passthroughChain(INBOUND_PASSTHROUGH_CLUSTER),
    },
  };
  return [listener, ...ports.map((p) => inboundCluster(p.port, p.protocol))];
}

/**
 * One served port's filter chain. The workload's AuthorizationPolicies come
 * first (RBAC, which denies before anything else runs), then the local rate
 * limit, then the router or TCP proxy.
 */
function inboundChain(model: MeshModel, workload: WorkloadModel, served: ServedPort): JsonObject {
  const cluster = inboundClusterName(served.port);
  const rbac = (protocol: "HTTP" | "TCP") =>
    workload.authorization.length > 0
      ? rbacFilters(workload.authorization, { trustDomain: model.trustDomain, protocol })
      : [];
  const filters =
    served.protocol === "TCP"
      ? [
          ...rbac("TCP"),
          {
            name: TCP_PROXY_FILTER,
            typed_config: typed("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", {
              stat_prefix: cluster,
              cluster,
            }),
          },
        ]
      : [
          {
            name: HCM_FILTER,
            typed_config: typed(
              "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
              {
                stat_prefix: cluster,
                route_config: {
                  name: cluster,
                  virtual_hosts: [
                    {
                      name: "inbound",
                      domains: ["*"],
                      routes: [{ match: { prefix: "/" }, route: { cluster, timeout: "0s" } }],
                    },
                  ],
                  validate_clusters: false,
                },
                http_filters: [
                  ...rbac("HTTP"),
                  ...(served.rateLimit ? [localRateLimit(cluster, served.rateLimit)] : []),
                  ROUTER_FILTER,
                ],
                upgrade_configs: [{ upgrade_type: "websocket" }],
              },
            ),
          },
        ];
  return { name: cluster, filter_chain_match: { destination_port: served.port }, filters };
}

function localRateLimit(statPrefix: string, limit: LocalRateLimitModel): JsonObject {
  const always = {
    default_value: { numerator: 100, denominator: "HUNDRED" },
    runtime_key: "skiff_local_rate_limit",
  };
  return {
    name: "envoy.filters.http.local_ratelimit",
    typed_config: typed("envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit", {
      stat_prefix: statPrefix,
      status: { code: limit.statusCode },
      token_bucket: {
        max_tokens: limit.maxTokens,
        tokens_per_fill: limit.tokensPerFill,
        fill_interval: duration(limit.fillIntervalMs),
      },
      filter_enabled: always,
      filter_enforced: always,
    }),
  };
}
