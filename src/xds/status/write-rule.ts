import { canonicalJson } from "../../k8s/canonical.js";
import type { Condition } from "../../k8s/conditions.js";
import { statusChanged, type StatusBody } from "../../k8s/status.js";

/**
 * How long a policy generation that proxies are still taking may go
 * without its status: proxies usually ACK within a few hundred
 * milliseconds, and then Accepted and Programmed=True land in one write
 * instead of a write of Programmed=Pending followed by another.
 */
export const PENDING_HOLD_MS = 1000;

/**
 * How often the progress of a policy (the proxy counts in status.proxies
 * and in the Programmed message, while Programmed keeps its status and
 * reason) is written: often enough for `kubectl get -w` to show a rollout
 * moving, rarely enough that a thousand policies do not each cost a write
 * per burst of ACKs or connections.
 */
export const PROGRESS_EVERY_MS = 5000;

/**
 * How long Programmed=Pending is held at most while pipeline runs still
 * follow one another (the latest less than the hold ago): in a burst of
 * changes (a thousand policies applied at once) proxies take each
 * generation later than they would one change alone, and holding the
 * policies of the burst until it settles saves each a write of Pending
 * that the API server, busy with the burst, pays for. As long as progress
 * is held (PROGRESS_EVERY_MS), so status lags a rollout by at most that.
 */
export const PENDING_HOLD_IN_BURST_MS = 5000;

export type WriteDecision =
  | { readonly write: true }
  /** Nothing to write now; ask again in `retryInMs` if given (what is held then may be due). */
  | { readonly write: false; readonly retryInMs?: number };

/**
 * Whether the status writer writes a policy's new status now. Pure.
 *
 * - Nothing changed: no write.
 * - Only progress changed (see PROGRESS_EVERY_MS): at most once per
 *   PROGRESS_EVERY_MS since this writer last wrote the policy.
 * - Programmed turns Pending for a generation that proxies have had for less
 *   than `pendingHoldMs` (PENDING_HOLD_MS): held until then, so a quick ACK
 *   makes it True first; and while runs follow one another (the latest less
 *   than `pendingHoldMs` ago), up to PENDING_HOLD_IN_BURST_MS.
 * - Anything else (a condition's status or reason, observedGeneration, any
 *   other field): at once.
 */
export function whenToWrite(
  current: StatusBody,
  next: StatusBody,
  timing: {
    /** Since a pipeline run first carried the policy's generation (undefined: not known). */
    readonly sinceCarriedMs: number | undefined;
    /** Since this writer last wrote the policy's status (undefined: it has not). */
    readonly sinceWrittenMs: number | undefined;
    /** Since the latest pipeline run (undefined: not known). */
    readonly sinceLatestRunMs?: number | undefined;
  },
  pendingHoldMs = PENDING_HOLD_MS,
): WriteDecision {
  if (!statusChanged(current, next)) return { write: false };
  const { sinceCarriedMs, sinceWrittenMs } = timing;
  if (progressOnly(current, next)) {
    if (sinceWrittenMs !== undefined && sinceWrittenMs < PROGRESS_EVERY_MS)
      return { write: false, retryInMs: PROGRESS_EVERY_MS - sinceWrittenMs };
    return { write: true };
  }
  if (programmed(next)?.reason === "Pending" && sinceCarriedMs !== undefined) {
    if (sinceCarriedMs < pendingHoldMs) return { write: false, retryInMs: pendingHoldMs - sinceCarriedMs };
    const { sinceLatestRunMs } = timing;
    const burstHoldMs = Math.max(PENDING_HOLD_IN_BURST_MS, pendingHoldMs);
    if (sinceLatestRunMs !== undefined && sinceLatestRunMs < pendingHoldMs && sinceCarriedMs < burstHoldMs)
      // Asked again when the burst has settled, or at the latest when the hold ends.
      return {
        write: false,
        retryInMs: Math.min(pendingHoldMs - sinceLatestRunMs, burstHoldMs - sinceCarriedMs),
      };
  }
  return { write: true };
}

const programmed = (status: StatusBody): Condition | undefined =>
  status.conditions?.find((c) => c.type === "Programmed");

/**
 * Whether two statuses differ only in progress: the proxy counts and the
 * Programmed message, with Programmed's status and reason (and so its
 * lastTransitionTime) the same, and everything else equal.
 */
function progressOnly(current: StatusBody, next: StatusBody): boolean {
  const [before, after] = [programmed(current), programmed(next)];
  if (!before || !after || before.status !== after.status || before.reason !== after.reason) return false;
  return canonicalJson(withoutProgress(current)) === canonicalJson(withoutProgress(next));
}

function withoutProgress(status: StatusBody): object {
  return {
    ...status,
    proxies: undefined,
    conditions: status.conditions?.map((c) => (c.type === "Programmed" ? { ...c, message: "" } : c)),
  };
}
