import type { Analyzer } from "../analyzer.js";
import { compileFindings } from "./compile-findings.js";

/** Istio's IST0101 ReferencedResourceNotFound (an error there too). */
export const trafficTargetNotFound: Analyzer = {
  code: "SKF0101",
  severity: "error",
  name: "TargetServiceNotFound",
  fix: "Create the Service, or point spec.targetRef.name at a Service of the policy's namespace.",
  analyze: (view) =>
    compileFindings(view, "TrafficPolicy", "BackendNotFound", () => "spec.targetRef.name").filter((d) =>
      view.observes("Service", d.object.namespace ?? ""),
    ),
};
