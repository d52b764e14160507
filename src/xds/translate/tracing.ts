import type { JsonObject } from "@bufbuild/protobuf";
import type { TelemetryModel } from "../../ir/model.js";
import { OTLP_CLUSTER } from "../../mesh/proxy.js";
import { typed } from "./json.js";

/**
 * An HTTP connection manager's OpenTelemetry tracer: spans over OTLP/gRPC to
 * the bootstrap's collector cluster, W3C trace context propagated to the next
 * hop (the tracer reads and writes `traceparent`), so the client's and the
 * server's sidecars join one trace when the application forwards the header.
 * `random_sampling` is the Mesh's percentage for requests that arrive with no
 * sampling decision; a request that carries one keeps it, so a trace is never
 * cut between hops. The service name comes from OTEL_RESOURCE_ATTRIBUTES in
 * the sidecar's environment (the environment resource detector; without it
 * Envoy 1.40 names every span's service `unknown_service:envoy`): listeners
 * are shared by every sidecar and cannot name one.
 */
export function tracing(telemetry: TelemetryModel): JsonObject | undefined {
  if (!telemetry.tracing) return undefined;
  return {
    random_sampling: { value: telemetry.tracing.samplingPercent },
    provider: {
      name: "envoy.tracers.opentelemetry",
      typed_config: typed("envoy.config.trace.v3.OpenTelemetryConfig", {
        grpc_service: { envoy_grpc: { cluster_name: OTLP_CLUSTER }, timeout: "1s" },
        resource_detectors: [
          {
            name: "envoy.tracers.opentelemetry.resource_detectors.environment",
            typed_config: typed(
              "envoy.extensions.tracers.opentelemetry.resource_detectors.v3.EnvironmentResourceDetectorConfig",
            ),
          },
        ],
      }),
    },
  };
}
