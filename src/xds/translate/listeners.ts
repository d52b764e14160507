import type { JsonObject } from "@bufbuild/protobuf";
import { WHOLE_SERVICE } from "../../ir/defaults.js";
import type { ServiceModel, ServicePortModel, TelemetryModel, WeightedDestination } from "../../ir/model.js";
import { ADS_SOURCE, compact, socketAddress, typed } from "./json.js";
import {
  hostPortName,
  outboundClusterName,
  outboundListenerName,
  PASSTHROUGH_CLUSTER,
  VIRTUAL_OUTBOUND,
} from "./names.js";
import { LISTENER_TYPE, type EnvoyResource } from "./resource.js";
import { FAULT_FILTER } from "./routes.js";
import { httpTelemetry, peerExchangeFilters, tcpTelemetry, type HttpEnd } from "./telemetry.js";
import { OUTBOUND_CAPTURE_PORT } from "../../mesh/proxy.js";

export const HCM_FILTER = "envoy.filters.network.http_connection_manager";
export const TCP_PROXY_FILTER = "envoy.filters.network.tcp_proxy";
const HCM_TYPE = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

export const ROUTER_FILTER: JsonObject = {
  name: "envoy.filters.http.router",
  typed_config: typed("envoy.extensions.filters.http.router.v3.Router"),
};

/**
 * The client side of HTTP: routes from RDS, the fault filter that routes may
 * configure, then the router; and a sidecar's telemetry, with the metadata
 * exchange's filter first (proxyless clients have neither: no `sidecar`).
 */
function outboundConnectionManager(
  statPrefix: string,
  routeConfigName: string,
  sidecar?: { telemetry: TelemetryModel | undefined; end: HttpEnd },
): JsonObject {
  return typed(HCM_TYPE, {
    stat_prefix: statPrefix,
    ...(sidecar ? httpTelemetry(sidecar.telemetry, sidecar.end) : {}),
    rds: { route_config_name: routeConfigName, config_source: ADS_SOURCE },
    http_filters: [
      ...(sidecar ? peerExchangeFilters(sidecar.telemetry, sidecar.end) : []),
      { name: FAULT_FILTER, typed_config: typed("envoy.extensions.filters.http.fault.v3.HTTPFault") },
      ROUTER_FILTER,
    ],
    upgrade_configs: [{ upgrade_type: "websocket" }],
  });
}

/** A proxyless gRPC client's listener: an api_listener named after the target it dials (xds:///<hostname>:<port>). */
export function proxylessListeners(service: ServiceModel): EnvoyResource[] {
  return service.ports.map((port) => {
    const name = hostPortName(service.hostname, port.port);
    return {
      typeUrl: LISTENER_TYPE,
      name,
      json: { name, api_listener: { api_listener: outboundConnectionManager(name, name) } },
    };
  });
}

/**
 * A sidecar's outbound listeners: one per ClusterIP and port, reached through
 * virtualOutbound's original-destination hand-off (they do not bind). A
 * headless Service has no ClusterIP, so its traffic passes through.
 */
export function outboundListeners(service: ServiceModel, telemetry?: TelemetryModel): EnvoyResource[] {
  const clusterIP = service.clusterIP;
  if (!clusterIP) return [];
  return service.ports.map((port) => {
    const name = outboundListenerName(clusterIP, port.port);
    const filter =
      port.protocol === "TCP"
        ? { name: TCP_PROXY_FILTER, typed_config: tcpProxy(name, service, port, telemetry) }
        : {
            name: HCM_FILTER,
            typed_config: outboundConnectionManager(name, hostPortName(service.hostname, port.port), {
              telemetry,
              end: { side: "outbound", destinationService: service.hostname },
            }),
          };
    return {
      typeUrl: LISTENER_TYPE,
      name,
      json: {
        name,
        address: socketAddress(clusterIP, port.port),
        bind_to_port: false,
        traffic_direction: "OUTBOUND",
        filter_chains: [{ filters: [filter] }],
      },
    };
  });
}

function tcpProxy(
  statPrefix: string,
  service: ServiceModel,
  port: ServicePortModel,
  telemetry: TelemetryModel | undefined,
): JsonObject {
  const route: readonly WeightedDestination[] = (service.traffic?.tcp ?? WHOLE_SERVICE).filter(
    (d) => d.weight > 0,
  );
  const cluster = (d: WeightedDestination) => outboundClusterName(port.port, d.subset, service.hostname);
  return typed(
    "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
    compact({
      stat_prefix: statPrefix,
      ...(route.length === 1
        ? { cluster: cluster(route[0]!) }
        : { weighted_clusters: { clusters: route.map((d) => ({ name: cluster(d), weight: d.weight })) } }),
      ...tcpTelemetry(telemetry, "outbound", service.hostname),
    }),
  );
}

/** A TCP proxy straight to the connection's original destination. */
export function passthroughChain(cluster: string): JsonObject {
  return {
    name: cluster,
    filters: [
      {
        name: TCP_PROXY_FILTER,
        typed_config: typed("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", {
          stat_prefix: cluster,
          cluster,
        }),
      },
    ],
  };
}

/** Where iptables sends every outbound connection; it hands each to the listener for its original destination. */
export function virtualOutboundListener(): EnvoyResource {
  return {
    typeUrl: LISTENER_TYPE,
    name: VIRTUAL_OUTBOUND,
    json: {
      name: VIRTUAL_OUTBOUND,
      address: socketAddress("0.0.0.0", OUTBOUND_CAPTURE_PORT),
      use_original_dst: true,
      traffic_direction: "OUTBOUND",
      default_filter_chain: passthroughChain(PASSTHROUGH_CLUSTER),
    },
  };
}
