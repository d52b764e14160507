import type { Analyzer } from "../analyzer.js";
import { compileFindings } from "./compile-findings.js";

/** Istio reports conflicting VirtualServices as errors too (IST0109). */
export const trafficConflict: Analyzer = {
  code: "SKF0103",
  severity: "error",
  name: "ConflictingTrafficPolicy",
  fix: "Merge the rules into the older TrafficPolicy and delete this one: one TrafficPolicy per Service.",
  analyze: (view) => compileFindings(view, "TrafficPolicy", "Conflicted", () => "spec.targetRef"),
};
