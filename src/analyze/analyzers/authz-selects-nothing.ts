import type { Analyzer } from "../analyzer.js";
import { selectingNothing } from "./selects-nothing.js";

export const authzSelectsNothing: Analyzer = {
  code: "SKF0301",
  severity: "warning",
  name: "AuthorizationPolicySelectsNothing",
  fix: "Correct spec.selector to the labels of the workloads' Pods, or delete the policy.",
  analyze: (view) => selectingNothing(view, "AuthorizationPolicy", view.snapshot.authorizationPolicies),
};
