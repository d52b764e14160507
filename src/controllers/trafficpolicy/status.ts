import type { TrafficPolicyStatus } from "../../api/v1alpha1/generated/trafficpolicy.js";
import type { PolicyFindings } from "../../compile/findings.js";
import { setConditions, type Condition, type DesiredCondition } from "../../k8s/conditions.js";
import type { Programming } from "../../xds/programming.js";

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
    { ...programmed(accepted, programming), observedGeneration: generation },
  ];
  const conditions = setConditions([], desired, now).map((c) => {
    const old = previous.find((p) => p.type === c.type);
    return old && old.status === c.status ? { ...c, lastTransitionTime: old.lastTransitionTime } : c;
  });
  return {
    observedGeneration: generation,
    conditions,
    proxies: {
      targeted: programming.targeted,
      acked: programming.acked,
      nacked: programming.nacked,
      ...(programming.lastNackMessage ? { lastNackMessage: programming.lastNackMessage.slice(0, 1024) } : {}),
    },
  };
}

function programmed(
  accepted: { status: string; message: string } | undefined,
  p: Programming,
): Omit<DesiredCondition, "observedGeneration"> {
  if (accepted?.status !== "True")
    return {
      type: "Programmed",
      status: "False",
      reason: "NotAccepted",
      message: `The policy is not applied: ${accepted?.message ?? "it was not accepted"}`,
    };
  if (p.nacked > 0)
    return {
      type: "Programmed",
      status: "False",
      reason: "Nacked",
      message: `${p.nacked} of ${p.targeted} proxies rejected the configuration: ${p.lastNackMessage}`.slice(
        0,
        32768,
      ),
    };
  if (p.acked < p.targeted)
    return {
      type: "Programmed",
      status: "False",
      reason: "Pending",
      message: `${p.acked} of ${p.targeted} proxies run this generation.`,
    };
  return {
    type: "Programmed",
    status: "True",
    reason: "Programmed",
    message:
      p.targeted === 0
        ? "No connected proxy sends traffic to the target yet."
        : `All ${p.targeted} proxies that send traffic to the target run this generation.`,
  };
}
