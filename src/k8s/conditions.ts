/**
 * metav1.Condition semantics, as pure functions:
 * - one condition per type;
 * - lastTransitionTime changes only when the status flips, so it says how long
 *   the object has been in its current state;
 * - observedGeneration records which spec the condition describes.
 */

import { kubernetesTime } from "./time.js";

export { kubernetesTime };

export type ConditionStatus = "True" | "False" | "Unknown";

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** What a controller decides; the transition time is derived. */
export type DesiredCondition = Omit<Condition, "lastTransitionTime">;

export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === "True";
}

/**
 * Returns `conditions` with `desired` set: added if absent, replaced if
 * present, keeping the old lastTransitionTime unless the status changed.
 * Order is preserved, so an unchanged set compares equal.
 */
export function setCondition(
  conditions: readonly Condition[],
  desired: DesiredCondition,
  now: Date,
): Condition[] {
  const existing = findCondition(conditions, desired.type);
  const lastTransitionTime =
    existing && existing.status === desired.status ? existing.lastTransitionTime : kubernetesTime(now);
  const next: Condition = { ...desired, lastTransitionTime };
  return existing ? conditions.map((c) => (c.type === desired.type ? next : c)) : [...conditions, next];
}

/** Sets several conditions at once (see setCondition). */
export function setConditions(
  conditions: readonly Condition[],
  desired: readonly DesiredCondition[],
  now: Date,
): Condition[] {
  return desired.reduce<Condition[]>((acc, d) => setCondition(acc, d, now), [...conditions]);
}

/**
 * Exactly the desired conditions, each keeping its lastTransitionTime from
 * `previous` while its status holds: for a controller that owns every
 * condition of its object.
 */
export function replaceConditions(
  previous: readonly Condition[],
  desired: readonly DesiredCondition[],
  now: Date,
): Condition[] {
  return setConditions([], desired, now).map((c) => {
    const old = findCondition(previous, c.type);
    return old && old.status === c.status ? { ...c, lastTransitionTime: old.lastTransitionTime } : c;
  });
}

/**
 * The conditions of `types` only: what a controller sends in a status apply,
 * so that it never claims conditions another controller owns.
 */
export function ownedConditions(conditions: readonly Condition[], types: readonly string[]): Condition[] {
  return conditions.filter((c) => types.includes(c.type));
}

/** Whether two condition lists say the same thing, for "write status only when it changed". */
export function sameConditions(
  a: readonly Condition[] | undefined,
  b: readonly Condition[] | undefined,
): boolean {
  const key = (list: readonly Condition[] | undefined) =>
    JSON.stringify(
      [...(list ?? [])]
        .sort((x, y) => x.type.localeCompare(y.type))
        .map((c) => [
          c.type,
          c.status,
          c.reason,
          c.message,
          c.lastTransitionTime,
          c.observedGeneration ?? null,
        ]),
    );
  return key(a) === key(b);
}
