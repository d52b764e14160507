import type { JsonObject } from "@bufbuild/protobuf";
import { typed } from "./json.js";
import type { Peers, Side } from "./telemetry-peers.js";

/**
 * The sidecars' request metrics, as Istio's standard metrics with the
 * `skiff_` prefix in place of `istio_` (Envoy's /stats/prometheus adds
 * `envoy_` to every name): see docs/telemetry.md for the names and labels.
 *
 * Envoy's stats access logger (envoy.access_loggers.stats) makes them: it
 * runs once per finished request or TCP connection and adds to counters and
 * histograms whose tags are command operators, so labels such as the peer's
 * principal vary per request, which Envoy's own per-cluster stats cannot do.
 * Upstream Envoy has no istio.stats filter; this needs no process beside it.
 */

const STATS_LOGGER = "envoy.access_loggers.stats";
const STATS_TYPE = "envoy.extensions.access_loggers.stats.v3.Config";
/** Every name is in this scope: skiff.requests_total is envoy_skiff_requests_total on the Prometheus port. */
const SCOPE = "skiff";

type Tags = Record<string, string>;

function tags(values: Tags): JsonObject[] {
  return Object.entries(values).map(([name, value_format]) => ({ name, value_format }));
}

function labels(side: Side, who: Peers): Tags {
  return { reporter: side === "outbound" ? "source" : "destination", ...who };
}

/** The HTTP metrics, logged when a request ends. */
export function httpMetrics(side: Side, who: Peers): JsonObject {
  const stat = (name: string) => ({
    name,
    tags: tags({
      ...labels(side, who),
      request_protocol: "%PROTOCOL%",
      response_code: "%RESPONSE_CODE%",
      response_flags: "%RESPONSE_FLAGS%",
    }),
  });
  return {
    name: STATS_LOGGER,
    typed_config: typed(STATS_TYPE, {
      stats_scope: { prefix: SCOPE },
      counters: [{ stat: stat("requests_total"), value_fixed: 1 }],
      histograms: [
        { stat: stat("request_duration_milliseconds"), unit: "Milliseconds", value_format: "%DURATION%" },
        { stat: stat("request_bytes"), unit: "Bytes", value_format: "%BYTES_RECEIVED%" },
        { stat: stat("response_bytes"), unit: "Bytes", value_format: "%BYTES_SENT%" },
      ],
    }),
  };
}

/**
 * The TCP metrics: a connection counts as opened once its upstream
 * connection is (the TCP proxy flushes a log then; see `tcpLogOptions`), and
 * its bytes count when it closes, so a long connection's bytes show at its
 * end.
 */
export function tcpMetrics(side: Side, who: Peers): JsonObject[] {
  const stat = (name: string) => ({ name, tags: tags(labels(side, who)) });
  const logger = (types: string[], counters: JsonObject[]) => ({
    name: STATS_LOGGER,
    filter: { log_type_filter: { types } },
    typed_config: typed(STATS_TYPE, { stats_scope: { prefix: SCOPE }, counters }),
  });
  return [
    logger(["TcpUpstreamConnected"], [{ stat: stat("tcp_connections_opened_total"), value_fixed: 1 }]),
    logger(
      ["TcpConnectionEnd"],
      [
        { stat: stat("tcp_connections_closed_total"), value_fixed: 1 },
        { stat: stat("tcp_received_bytes_total"), value_format: "%BYTES_RECEIVED%" },
        { stat: stat("tcp_sent_bytes_total"), value_format: "%BYTES_SENT%" },
      ],
    ),
  ];
}

/** What the TCP proxy needs for `tcpMetrics`: a log entry as soon as the upstream connection is up. */
export const TCP_LOG_OPTIONS: JsonObject = { flush_access_log_on_connected: true };
