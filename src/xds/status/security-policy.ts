import type { AuthorizationPolicyStatus } from "../../api/v1alpha1/generated/authorizationpolicy.js";
import type { PeerAuthenticationStatus } from "../../api/v1alpha1/generated/peerauthentication.js";
import type { SecurityPolicyFindings } from "../../compile/security.js";
import { replaceConditions, type Condition, type DesiredCondition } from "../../k8s/conditions.js";
import { truncateCodePoints } from "../../k8s/truncate.js";
import type { Programming } from "./programming.js";
import { programmedCondition } from "./programmed.js";

/**
 * A PeerAuthentication's or AuthorizationPolicy's status. Pure.
 *
 * - Accepted comes from compile; an AuthorizationPolicy's warnings (rules
 *   that can never match without mTLS) are appended to its message, so
 *   `kubectl describe` shows them.
 * - Programmed comes from the proxies of the workloads the policy applies to:
 *   they enforce it (the server side of mTLS, the authorization filters).
 * - `workloads` counts the workloads the policy applies to.
 */
export function securityPolicyStatus(
  found: SecurityPolicyFindings,
  workloads: number,
  programming: Programming,
  previous: readonly Condition[],
  now: Date,
): PeerAuthenticationStatus & AuthorizationPolicyStatus {
  const generation = found.source.generation;
  const warnings = found.warnings.map((w) => `rule ${w.rule}: ${w.message}`);
  const desired: DesiredCondition[] = found.findings.map((f) => ({
    ...f,
    message: truncateCodePoints([f.message, ...warnings].join(" "), 32768),
    observedGeneration: generation,
  }));
  const accepted = found.findings.find((f) => f.type === "Accepted");
  desired.push({ ...programmedCondition(accepted, programming), observedGeneration: generation });
  const conditions = replaceConditions(previous, desired, now);
  return { observedGeneration: generation, conditions, workloads };
}
