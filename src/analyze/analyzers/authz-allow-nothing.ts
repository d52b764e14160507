import { refOf, type Analyzer } from "../analyzer.js";

/**
 * An ALLOW policy without rules matches no request, so every request to the
 * workloads it selects is denied (Istio's allow-nothing). That is a known
 * pattern to lock a workload down, so it is a warning: nothing here can tell
 * a deliberate lock-down from forgotten rules.
 */
export const authzAllowNothing: Analyzer = {
  code: "SKF0302",
  severity: "warning",
  name: "AllowNothing",
  fix: "Add the rules this policy should allow; if the lock-down is deliberate, keep it (other ALLOW policies for the workload still open what they match).",
  analyze: (view) =>
    view.snapshot.authorizationPolicies
      .filter((p) => (p.spec?.action ?? "ALLOW") === "ALLOW" && (p.spec?.rules ?? []).length === 0)
      .map((p) => ({
        object: refOf("AuthorizationPolicy", p.metadata),
        field: "spec.rules",
        message: `ALLOW with no rules matches nothing, so every request to the workloads it ${p.spec?.selector ? "selects" : "applies to"} is denied`,
      })),
};
