import type { Analyzer } from "../analyzer.js";
import { compileFindings } from "./compile-findings.js";

export const trafficSubsetNoEndpoints: Analyzer = {
  code: "SKF0102",
  severity: "warning",
  name: "SubsetHasNoEndpoints",
  fix: "Fix the subset's labels to match the Pods of the Service, or start Pods that carry them.",
  analyze: (view) =>
    compileFindings(view, "TrafficPolicy", "SubsetHasNoEndpoints", () => "spec.subsets").filter((d) =>
      // Endpoints come from EndpointSlices: files without them say nothing about endpoints.
      view.observes("EndpointSlice", d.object.namespace ?? ""),
    ),
};
