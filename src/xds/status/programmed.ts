import type { DesiredCondition } from "../../k8s/conditions.js";
import { truncateCodePoints } from "../../k8s/truncate.js";
import type { Programming } from "./programming.js";

/**
 * The Programmed condition of a policy that proxies enforce: True when every
 * proxy it targets runs a generation that carries it, Nacked when one
 * rejected it, Pending until then, NotAccepted when it is not applied at all.
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
        ? "No connected proxy enforces or uses this policy yet."
        : `All ${p.targeted} proxies that this policy affects run this generation.`,
  };
}
