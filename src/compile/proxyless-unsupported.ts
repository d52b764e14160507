import type { TrafficModel } from "../ir/model.js";
import type { UnsupportedSetting } from "./findings.js";

/**
 * What proxyless gRPC clients do not carry out of a TrafficPolicy, though
 * they accept it.
 *
 * - Outlier detection on consecutive errors: gRPC implements only
 *   success-rate and failure-percentage ejection (gRFC A50), and Skiff's
 *   API has neither, so a gRPC client ejects no endpoint. The translator
 *   still writes the cluster's outlier_detection, which Envoy sidecars
 *   share; mapping a count of consecutive errors to a percentage would
 *   eject at other times than the user asked for. 0 turns a detector off,
 *   so it is not reported.
 */
export function proxylessUnsupported(traffic: TrafficModel): UnsupportedSetting[] {
  const outlier = traffic.outlierDetection;
  const detectors = [
    ["consecutive5xxErrors", outlier?.consecutive5xxErrors],
    ["consecutiveGatewayErrors", outlier?.consecutiveGatewayErrors],
  ] as const;
  return detectors
    .filter(([, count]) => count !== undefined && count > 0)
    .map(([name]) => ({
      clients: "proxyless",
      field: `spec.outlierDetection.${name}`,
      message:
        "gRPC ejects endpoints only by success rate or failure percentage (gRFC A50), not on consecutive errors, so these clients eject none",
    }));
}
