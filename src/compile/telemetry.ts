import type { Mesh } from "../api/v1alpha1/generated/mesh.js";
import type { TelemetryModel } from "../ir/model.js";

/**
 * The Mesh's observability settings as the sidecars' telemetry. The CRD's
 * defaults are applied here too (access logs on, as JSON; 1% of requests
 * traced), because compile also reads Mesh objects that never went through
 * the API server (files, tests). Tracing needs a collector: with no
 * otlpEndpoint the bootstrap has no collector cluster, so there is no tracer.
 * No Mesh: no telemetry, as nothing is meshed without one.
 */
export function telemetryModel(mesh: Mesh | undefined): TelemetryModel | undefined {
  if (!mesh) return undefined;
  const observability = mesh.spec?.observability;
  const accessLog = observability?.accessLog;
  const tracing = observability?.tracing;
  return {
    ...(accessLog?.enabled === false ? {} : { accessLog: { format: accessLog?.format ?? "JSON" } }),
    ...(tracing?.otlpEndpoint ? { tracing: { samplingPercent: tracing.samplingPercent ?? 1 } } : {}),
  };
}
