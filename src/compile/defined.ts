/** Small helpers for optional API fields, shared by the compile steps. */

/** Drops undefined fields, so optional settings leave no trace in the model. */
export const defined = <T extends object>(o: T) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

/** A label map without undefined values, sorted by key so equal maps compare equal. */
export function definedLabels(
  labels: Record<string, string | undefined> | undefined,
): Record<string, string> {
  return Object.fromEntries(
    Object.entries(labels ?? {})
      .filter((e): e is [string, string] => e[1] !== undefined)
      .sort(([a], [b]) => a.localeCompare(b)),
  );
}
