import type { TrafficPolicyStatus } from "../../api/v1alpha1/generated/trafficpolicy.js";
import type { PolicyFindings } from "../../compile/findings.js";
import { replaceConditions, type Condition, type DesiredCondition } from "../../k8s/conditions.js";
import { truncateCodePoints } from "../../k8s/truncate.js";
import type { Programming } from "./programming.js";
import { programmedCondition } from "./programmed.js";

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
  const programmed = programmedCondition(accepted, programming);
  const desired: DesiredCondition[] = [
    ...found.findings.map((f) => ({ ...f, observedGeneration: generation })),
    {
      ...programmed,
      message:
        programmed.reason === "NotAccepted"
          ? programmed.message
          : withProxylessGaps(programmed.message, found, programming),
      observedGeneration: generation,
    },
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

/**
 * The Programmed message, with what the proxyless gRPC clients among the
 * targeted proxies do not carry out of the policy: they ACK it, so nothing
 * else would tell. Settings with the same reason share one sentence.
 */
function withProxylessGaps(message: string, found: PolicyFindings, programming: Programming): string {
  const gaps = found.unsupported.filter((u) => u.clients === "proxyless");
  if (programming.proxyless === 0 || gaps.length === 0) return message;
  const fieldsByReason = new Map<string, string[]>();
  for (const gap of gaps)
    fieldsByReason.set(gap.message, [...(fieldsByReason.get(gap.message) ?? []), gap.field]);
  const what = [...fieldsByReason].map(([reason, fields]) => `${fields.join(" and ")}: ${reason}`).join("; ");
  const who =
    programming.proxyless === 1
      ? "1 of them is a proxyless gRPC client, which does"
      : `${programming.proxyless} of them are proxyless gRPC clients, which do`;
  return truncateCodePoints(`${message} ${who} not carry out ${what}.`, 32768);
}
