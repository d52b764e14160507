import type { DesiredCondition } from "../../k8s/conditions.js";
import { truncateCodePoints } from "../../k8s/truncate.js";
import type { Programming } from "./programming.js";

/**
 * The Programmed condition of a policy that proxies enforce: True when every
 * proxy it targets, on every xDS replica, runs a generation that carries it;
 * Nacked when one rejected it; Pending until then, and while a replica has
 * not compiled this generation of it; Unknown when all proxies known run it
 * but a replica did not answer, so its proxies may not; NotAccepted when it
 * is not applied at all.
 */
export function programmedCondition(
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
      message: truncateCodePoints(
        `${p.nacked} of ${p.targeted} proxies rejected the configuration: ${p.lastNackMessage}`,
        32768,
      ),
    };
  const behind = p.behind ?? [];
  const unheard = (p.unheard ?? []).map((u) => `xDS replica ${u.replica} did not answer (${u.reason})`);
  if (p.acked < p.targeted || behind.length > 0)
    return {
      type: "Programmed",
      status: "False",
      reason: "Pending",
      message: truncateCodePoints(
        [
          `${p.acked} of ${p.targeted} proxies run this generation.`,
          ...behind.map((replica) => `xDS replica ${replica} has not compiled it yet.`),
          ...unheard.map((u) => `${u}: its proxies are not counted.`),
        ].join(" "),
        32768,
      ),
    };
  if (unheard.length > 0)
    return {
      type: "Programmed",
      status: "Unknown",
      reason: "ReplicaUnreachable",
      message: truncateCodePoints(
        `All ${p.targeted} proxies known run this generation, but ${unheard.join("; ")}: whether its proxies do is not known.`,
        32768,
      ),
    };
  return {
    type: "Programmed",
    status: "True",
    reason: "Programmed",
    message:
      p.targeted === 0
        ? "No connected proxy enforces or uses this policy yet."
        : `All ${p.targeted} proxies that this policy affects run this generation.`,
  };
}
