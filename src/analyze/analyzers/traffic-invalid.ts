import type { Analyzer } from "../analyzer.js";
import { compileFindings, invalidField } from "./compile-findings.js";

export const trafficInvalid: Analyzer = {
  code: "SKF0105",
  severity: "error",
  name: "InvalidTrafficPolicy",
  fix: "Correct the field the message names; until then the policy is ignored.",
  analyze: (view) => compileFindings(view, "TrafficPolicy", "Invalid", invalidField),
};
