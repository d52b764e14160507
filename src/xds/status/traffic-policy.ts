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
  const programmed =
    accepted?.status === "True" && found.service === undefined
      ? targetNotFound(found)
      : programmedCondition(accepted, programming);
  const desired: DesiredCondition[] = [
    ...found.findings.map((f) => ({ ...f, observedGeneration: generation })),
    {
      ...programmed,
      message:
        programmed.status === "False" && NOT_APPLIED.has(programmed.reason)
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

/** Programmed reasons of a policy that no proxy configuration carries: no proxy to talk about. */
const NOT_APPLIED = new Set(["NotAccepted", "TargetNotFound"]);

/**
 * Programmed for an accepted policy whose target Service is not in the
 * model (it does not exist, or has no ports): no proxy configuration
 * carries it, so it must not read as programmed, whatever the proxies do.
 * The reason is Gateway API's for a policy whose targetRef resolves to
 * nothing (GEP-713); the message is ResolvedRefs', which says what is missing.
 */
function targetNotFound(found: PolicyFindings): Omit<DesiredCondition, "observedGeneration"> {
  const resolvedRefs = found.findings.find((f) => f.type === "ResolvedRefs" && f.status === "False");
  return {
    type: "Programmed",
    status: "False",
    reason: "TargetNotFound",
    message: `The policy is not applied: ${resolvedRefs?.message ?? "its target Service is not in the mesh."}`,
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
