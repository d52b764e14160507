import type { TrafficPolicyStatus } from "../../api/v1alpha1/generated/trafficpolicy.js";
import type { PolicyFindings } from "../../compile/findings.js";
import { replaceConditions, type Condition, type DesiredCondition } from "../../k8s/conditions.js";
import { truncateCodePoints } from "../../k8s/truncate.js";
import type { Programming } from "../../xds/programming.js";
import { programmedCondition } from "../policystatus/programmed.js";

export const TRAFFIC_POLICY_CONDITIONS = ["Accepted", "ResolvedRefs", "Programmed"];

/**
 * A TrafficPolicy's status from what compile found and what the proxies
 * answered. Pure; lastTransitionTime moves only when a status flips.
 */
export function trafficPolicyStatus(
  found: PolicyFindings,
  programming: Programming,
  previous: readonly Condition[],
  now: Date,
): TrafficPolicyStatus {
  const generation = found.source.generation;
  const accepted = found.findings.find((f) => f.type === "Accepted");
  const desired: DesiredCondition[] = [
    ...found.findings.map((f) => ({ ...f, observedGeneration: generation })),
    { ...programmedCondition(accepted, programming), observedGeneration: generation },
  ];
  const conditions = replaceConditions(previous, desired, now);
  return {
    observedGeneration: generation,
    conditions,
    proxies: {
      targeted: programming.targeted,
      acked: programming.acked,
      nacked: programming.nacked,
      ...(programming.lastNackMessage
        ? { lastNackMessage: truncateCodePoints(programming.lastNackMessage, 1024) }
        : {}),
    },
  };
}
