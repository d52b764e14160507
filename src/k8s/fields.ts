/**
 * Whether `actual` (an object as the API server stores it) already says
 * everything `desired` (what we would apply) says: every field `desired`
 * sets has the same value in `actual`. Fields only `actual` has (defaults,
 * status, other managers' fields) do not matter. Lists must have the same
 * length and match element by element, since an apply sets a whole list (or
 * each keyed element, which keeps its place). Pure.
 */
export function containsFields(actual: unknown, desired: unknown): boolean {
  if (desired === undefined) return true;
  if (desired === null || typeof desired !== "object") return actual === desired;
  if (actual === null || typeof actual !== "object") return false;
  if (Array.isArray(desired)) {
    return (
      Array.isArray(actual) &&
      actual.length === desired.length &&
      desired.every((element, i) => containsFields(actual[i], element))
    );
  }
  if (Array.isArray(actual)) return false;
  const have = actual as Record<string, unknown>;
  return Object.entries(desired as Record<string, unknown>).every(
    ([key, value]) => value === undefined || (key in have && containsFields(have[key], value)),
  );
}
