import type { JsonObject } from "@bufbuild/protobuf";
import type { TelemetryModel } from "../../ir/model.js";
import { accessLog } from "./access-log.js";
import { httpMetrics, TCP_LOG_OPTIONS, tcpMetrics } from "./metrics.js";
import type { Side } from "./telemetry-peers.js";
import { tracing } from "./tracing.js";

/**
 * The telemetry fields of a sidecar's HTTP connection manager (access_log,
 * tracing) and TCP proxy (access_log, access_log_options), to spread into
 * their configs. No model: no fields, so a mesh without a Mesh object keeps
 * its configuration as it was.
 */

export function httpTelemetry(
  telemetry: TelemetryModel | undefined,
  side: Side,
  destinationService?: string,
): JsonObject {
  if (!telemetry) return {};
  const log = accessLog(telemetry, side, "HTTP");
  const tracer = tracing(telemetry);
  return {
    access_log: [httpMetrics(side, destinationService), ...(log ? [log] : [])],
    ...(tracer ? { tracing: tracer } : {}),
  };
}

export function tcpTelemetry(
  telemetry: TelemetryModel | undefined,
  side: Side,
  destinationService?: string,
): JsonObject {
  if (!telemetry) return {};
  const log = accessLog(telemetry, side, "TCP");
  return {
    access_log: [...tcpMetrics(side, destinationService), ...(log ? [log] : [])],
    access_log_options: TCP_LOG_OPTIONS,
  };
}
