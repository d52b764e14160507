import type { JsonObject } from "@bufbuild/protobuf";
import type { LocalRateLimitModel, MeshModel, PortProtocol, WorkloadModel } from "../../ir/model.js";
import type { EffectiveMtlsMode } from "../../ir/security.js";
import { NETWORK_RBAC_FILTER, NETWORK_RBAC_TYPE, rbacFilters } from "./authorization.js";
import { inboundCluster } from "./clusters.js";
import { duration, socketAddress, typed } from "./json.js";
import { HCM_FILTER, ROUTER_FILTER, TCP_PROXY_FILTER } from "./listeners.js";
import { inboundClusterName, INBOUND_PASSTHROUGH_CLUSTER, VIRTUAL_INBOUND } from "./names.js";
import { LISTENER_TYPE, type EnvoyResource } from "./resource.js";
import { downstreamTlsSocket } from "./secrets.js";
import { httpTelemetry, peerExchangeFilters, tcpTelemetry, type HttpEnd } from "./telemetry.js";
import { INBOUND_CAPTURE_PORT } from "../../mesh/proxy.js";

/** One port the workload serves, as the Services that select it describe it. */
export interface ServedPort {
  readonly port: number;
  readonly protocol: PortProtocol;
  readonly rateLimit?: LocalRateLimitModel;
  /** What the port accepts: the workload's PeerAuthentication decision for it. */
  readonly mtls: EffectiveMtlsMode;
  /** The hostnames of every Service that reaches the workload at this port: the ones a caller may name. */
  readonly services: readonly string[];
}

/**
 * The ports a workload serves: each target port of each Service with the
 * workload among its endpoints, ready or not. A Pod that is not ready (still
 * starting, failing its readiness probe, terminating) gets no client traffic
 * through EDS, but anything may still dial its IP, so its ports keep their
 * mTLS mode and AuthorizationPolicies rather than passing through.
 *
 * - The Services of the workload's own namespace come first: when two
 *   Services share a target port, the first (own namespace first, then by
 *   namespace and name) decides its protocol and rate limit.
 * - A Service of another namespace lists the Pod only through a hand-written
 *   EndpointSlice. Its ports are still served, so that its traffic meets the
 *   workload's own PeerAuthentication and AuthorizationPolicies rather than
 *   passing through, but its TrafficPolicy's rate limit never applies: one
 *   namespace's objects do not configure another namespace's workloads.
 *   (Istio builds a Pod's inbound side from its own namespace's Services only.)
 */
export function servedPorts(model: MeshModel, workload: WorkloadModel): ServedPort[] {
  const namespace = workload.key.slice(0, workload.key.indexOf("/"));
  const own = model.services.filter((s) => s.namespace === namespace);
  const others = model.services.filter((s) => s.namespace !== namespace);
  const ports = new Map<number, ServedPort>();
  for (const service of [...own, ...others]) {
    const endpoints = [...service.endpoints, ...(service.unreadyEndpoints ?? [])].filter(
      (e) => e.workload === workload.key,
    );
    for (const servicePort of service.ports) {
      const port = endpoints.map((e) => e.ports[servicePort.name]).find((p) => p !== undefined);
      if (port === undefined) continue;
      const known = ports.get(port);
      if (known) {
        if (!known.services.includes(service.hostname))
          ports.set(port, { ...known, services: [...known.services, service.hostname] });
        continue;
      }
      const rateLimit = service.namespace === namespace ? service.traffic?.localRateLimit : undefined;
      ports.set(port, {
        port,
        protocol: servicePort.protocol,
        ...(rateLimit ? { rateLimit } : {}),
        mtls: workload.mtls.portModes[port] ?? workload.mtls.mode,
        services: [service.hostname],
      });
    }
  }
  return [...ports.values()].sort((a, b) => a.port - b.port);
}

/**
 * A sidecar's inbound side: virtualInbound, with the filter chains of each
 * served port (see {@link inboundChains}), those of the ports that no Service
 * targets (see {@link passthroughChains}), and the local clusters.
 *
 * - When a port takes mTLS, the TLS inspector tells TLS from plaintext
 *   (`transport_protocol`). Like Istio, a connection that sends nothing
 *   within the listener filter timeout (server-first protocols) continues as
 *   plaintext (`raw_buffer`) instead of being closed; under STRICT that
 *   plaintext is refused.
 */
export function inboundResources(model: MeshModel, workload: WorkloadModel): EnvoyResource[] {
  const ports = servedPorts(model, workload);
  const passthrough = passthroughChains(workload, model.trustDomain, new Set(ports.map((p) => p.port)));
  const inspectTls = ports.some((p) => p.mtls !== "DISABLE") || passthrough.inspectTls;
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
        ...(inspectTls
          ? [
              {
                name: "envoy.filters.listener.tls_inspector",
                typed_config: typed("envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"),
              },
            ]
          : []),
      ],
      ...(inspectTls ? { continue_on_listener_filters_timeout: true } : {}),
      filter_chains: [
        ...ports.flatMap((port) => inboundChains(model, workload, port)),
        ...passthrough.chains,
      ],
      default_filter_chain: passthrough.defaultChain,
    },
  };
  return [listener, ...ports.map((p) => inboundCluster(p.port, p.protocol))];
}

/**
 * One served port's filter chains, by its mTLS mode. Their match sets differ
 * (Envoy rejects duplicates):
 *
 * - DISABLE: one chain on the port alone, so TLS passes through to the
 *   application untouched, as in Istio.
 * - PERMISSIVE: `inbound|<port>||mtls` for `transport_protocol: tls`, which
 *   terminates mTLS, and `inbound|<port>||` for `raw_buffer`, plaintext.
 * - STRICT: the mTLS chain, and `inbound|<port>||plaintext-denied` for
 *   `raw_buffer`, which closes plaintext connections. Without it they would
 *   fall to the passthrough default chain and reach the application with no
 *   TLS at all.
 *
 * The mTLS and plaintext chains carry the same filters.
 */
function inboundChains(model: MeshModel, workload: WorkloadModel, served: ServedPort): JsonObject[] {
  const chain = inboundChain(model, workload, served);
  const name = inboundClusterName(served.port);
  if (served.mtls === "DISABLE")
    return [{ name, filter_chain_match: { destination_port: served.port }, filters: chain }];
  const mtls = {
    name: `${name}mtls`,
    filter_chain_match: { destination_port: served.port, transport_protocol: "tls" },
    transport_socket: downstreamTlsSocket(model.trustDomain),
    filters: chain,
  };
  const plaintext = { destination_port: served.port, transport_protocol: "raw_buffer" };
  return served.mtls === "PERMISSIVE"
    ? [mtls, { name, filter_chain_match: plaintext, filters: chain }]
    : [
        mtls,
        {
          name: `${name}plaintext-denied`,
          filter_chain_match: plaintext,
          filters: denyAll(`inbound_${served.port}_strict_mtls.`),
        },
      ];
}

/**
 * The chains of the ports that no Service targets on the workload, which go
 * to the original destination (`InboundPassthroughCluster`), under the
 * workload's mode as Istio applies it there (the authn builder's
 * `ForPassthrough` in pilot):
 *
 * - STRICT: `InboundPassthroughCluster|mtls` on `transport_protocol: tls`
 *   terminates mTLS (a mesh client certificate required) and forwards the
 *   plaintext; everything else meets the default chain
 *   `InboundPassthroughCluster|plaintext-denied`, which closes it.
 * - PERMISSIVE and DISABLE: the default chain passes everything through
 *   untouched, plaintext or TLS. (A Skiff client sends mTLS only to the
 *   endpoints of a Service's port, which are served ports, so terminating
 *   TLS here would only break an application's own TLS. Istio's PERMISSIVE
 *   passthrough terminates only TLS with Istio's ALPN, for the same reason.)
 * - A port that the workload's PeerAuthentication sets at port level, when
 *   its mode acts otherwise than the workload's, gets chains of its own:
 *   `InboundPassthroughCluster|<port>|mtls` and `…|<port>|plaintext-denied`
 *   for STRICT, `InboundPassthroughCluster|<port>|` for the others.
 *
 * Every chain that forwards (all but `plaintext-denied`) starts with the
 * workload's AuthorizationPolicies as network RBAC, and closes when drained,
 * as on a served TCP port.
 */
function passthroughChains(
  workload: WorkloadModel,
  trustDomain: string,
  served: ReadonlySet<number>,
): { chains: JsonObject[]; defaultChain: JsonObject; inspectTls: boolean } {
  const strict = (mode: EffectiveMtlsMode) => mode === "STRICT";
  const workloadStrict = strict(workload.mtls.mode);
  const overrides = Object.entries(workload.mtls.portModes)
    .map(([port, mode]) => ({ port: Number(port), strict: strict(mode) }))
    .filter((p) => !served.has(p.port) && p.strict !== workloadStrict)
    .sort((a, b) => a.port - b.port);
  // The workload's AuthorizationPolicies hold here too, as network RBAC (Istio's
  // passthrough chains carry its TCP authorization filters): a port no Service
  // targets is still reachable at the Pod's IP.
  const tcpProxy: JsonObject[] = [
    ...(workload.authorization.length > 0
      ? rbacFilters(workload.authorization, { trustDomain, protocol: "TCP" })
      : []),
    {
      name: TCP_PROXY_FILTER,
      typed_config: typed("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", {
        stat_prefix: INBOUND_PASSTHROUGH_CLUSTER,
        cluster: INBOUND_PASSTHROUGH_CLUSTER,
        check_drain_close: true,
      }),
    },
  ];
  const mtls = (name: string, match: JsonObject) => ({
    name: `${name}mtls`,
    filter_chain_match: { ...match, transport_protocol: "tls" },
    transport_socket: downstreamTlsSocket(trustDomain),
    filters: tcpProxy,
  });
  const chains = overrides.flatMap(({ port, strict }): JsonObject[] => {
    const name = `${INBOUND_PASSTHROUGH_CLUSTER}|${port}|`;
    if (!strict) return [{ name, filter_chain_match: { destination_port: port }, filters: tcpProxy }];
    return [
      mtls(name, { destination_port: port }),
      {
        name: `${name}plaintext-denied`,
        filter_chain_match: { destination_port: port, transport_protocol: "raw_buffer" },
        filters: denyAll(`inbound_${port}_strict_mtls.`),
      },
    ];
  });
  if (!workloadStrict)
    return {
      chains,
      defaultChain: { name: INBOUND_PASSTHROUGH_CLUSTER, filters: tcpProxy },
      inspectTls: overrides.length > 0,
    };
  return {
    chains: [...chains, mtls(`${INBOUND_PASSTHROUGH_CLUSTER}|`, {})],
    defaultChain: {
      name: `${INBOUND_PASSTHROUGH_CLUSTER}|plaintext-denied`,
      filters: denyAll("inbound_passthrough_strict_mtls."),
    },
    inspectTls: true,
  };
}

/**
 * Closes a connection as soon as it is accepted, as Istio does with
 * plaintext toward a STRICT port: an RBAC filter that denies every
 * connection (so the intent, and the `rbac.denied` stat when data arrives,
 * are explicit), then direct_response with no payload, which is terminal
 * (Envoy requires a terminal last network filter) and closes without ever
 * opening an upstream connection to the application.
 */
function denyAll(statPrefix: string): JsonObject[] {
  return [
    {
      name: NETWORK_RBAC_FILTER,
      typed_config: typed(NETWORK_RBAC_TYPE, {
        stat_prefix: statPrefix,
        rules: {
          action: "DENY",
          policies: {
            "skiff/strict-mtls-plaintext": { permissions: [{ any: true }], principals: [{ any: true }] },
          },
        },
      }),
    },
    {
      name: "envoy.filters.network.direct_response",
      typed_config: typed("envoy.extensions.filters.network.direct_response.v3.Config"),
    },
  ];
}

/**
 * One served port's network filters. The workload's AuthorizationPolicies come
 * first (RBAC, which denies before anything else runs), then the local rate
 * limit, then the router or TCP proxy. On HTTP, only the metadata exchange's
 * filter precedes RBAC: it takes the caller's announcement off every request,
 * so that even a denied one is counted under its caller.
 */
function inboundChain(model: MeshModel, workload: WorkloadModel, served: ServedPort): JsonObject[] {
  const cluster = inboundClusterName(served.port);
  const end: HttpEnd = { side: "inbound", trustDomain: model.trustDomain, services: served.services };
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
              // Network RBAC decides once, on a connection's first bytes. When a policy
              // change drains this chain, the connection closes at its next byte either
              // way, rather than going on under the old decision until the drain ends.
              check_drain_close: true,
              ...tcpTelemetry(model.telemetry, "inbound"),
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
                ...httpTelemetry(model.telemetry, end),
                // The application learns who called: x-forwarded-client-cert carries the mTLS
                // peer's SPIFFE ID (URI), and whatever the caller sent under that name is
                // dropped, so a plaintext caller cannot claim an identity.
                forward_client_cert_details: "SANITIZE_SET",
                set_current_client_cert_details: { uri: true },
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
                  // First, so that no filter after it, nor the application, sees the exchange's headers.
                  ...peerExchangeFilters(model.telemetry, end),
                  ...rbac("HTTP"),
                  ...(served.rateLimit ? [localRateLimit(cluster, served.rateLimit)] : []),
                  ROUTER_FILTER,
                ],
                upgrade_configs: [{ upgrade_type: "websocket" }],
              },
            ),
          },
        ];
  return filters;
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
