import type { JsonObject } from "@bufbuild/protobuf";
import type { TelemetryModel } from "../../ir/model.js";
import { accessLog } from "./access-log.js";
import { httpMetrics, TCP_LOG_OPTIONS, tcpMetrics } from "./metrics.js";
import { announcePeer, receivePeer, type ClaimCheck } from "./peer-exchange.js";
import { peers, type Side } from "./telemetry-peers.js";
import { tracing } from "./tracing.js";

/**
 * The telemetry fields of a sidecar's HTTP connection manager (access_log,
 * tracing) and TCP proxy (access_log, access_log_options), to spread into
 * their configs, and the HTTP filter of the metadata exchange. No model: no
 * fields and no filter, so a mesh without a Mesh object keeps its
 * configuration as it was.
 */

/**
 * An HTTP connection manager's end: outbound it calls one Service; inbound
 * it knows callers of the mesh's trust domain, and the Services that reach
 * its port.
 */
export type HttpEnd =
  | { readonly side: "outbound"; readonly destinationService: string }
  | ({ readonly side: "inbound"; readonly trustDomain: string } & ClaimCheck);

export function httpTelemetry(telemetry: TelemetryModel | undefined, end: HttpEnd): JsonObject {
  if (!telemetry) return {};
  const who =
    end.side === "outbound"
      ? peers(end.side, end.destinationService)
      : peers(end.side, undefined, { services: end.services });
  const log = accessLog(telemetry, end.side, "HTTP", who);
  const tracer = tracing(telemetry);
  return {
    access_log: [httpMetrics(end.side, who), ...(log ? [log] : [])],
    ...(tracer ? { tracing: tracer } : {}),
  };
}

/**
 * The metadata exchange's HTTP filter, to put first in the connection
 * manager: the client's sidecar announces itself, the server's takes the
 * announcement off the request (see peer-exchange.ts).
 */
export function peerExchangeFilters(telemetry: TelemetryModel | undefined, end: HttpEnd): JsonObject[] {
  if (!telemetry) return [];
  return [end.side === "outbound" ? announcePeer(end.destinationService) : receivePeer(end.trustDomain)];
}

export function tcpTelemetry(
  telemetry: TelemetryModel | undefined,
  side: Side,
  destinationService?: string,
): JsonObject {
  if (!telemetry) return {};
  const who = peers(side, destinationService);
  const log = accessLog(telemetry, side, "TCP", who);
  return {
    access_log: [...tcpMetrics(side, who), ...(log ? [log] : [])],
    access_log_options: TCP_LOG_OPTIONS,
  };
}
