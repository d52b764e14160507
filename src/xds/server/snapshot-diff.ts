import type { EncodedResource } from "../cache/snapshot.js";

/** How one snapshot map of a type differs from an earlier one. */
export interface SnapshotDiff {
  /** Resources that are new, or in another version, sorted by name. */
  readonly upserted: readonly EncodedResource[];
  /** The names of `upserted` the earlier map had (in another version). */
  readonly changed: ReadonlySet<string>;
  /** Names the earlier map had and this one has not, sorted. */
  readonly removed: readonly string[];
}

const diffs = new WeakMap<
  ReadonlyMap<string, EncodedResource>,
  { readonly next: ReadonlyMap<string, EncodedResource>; readonly diff: SnapshotDiff }
>();

/**
 * What changed from `before` to `after`, computed once per pair: every
 * delta stream in line with `before` (the proxies of one view share its
 * maps) asks for the same pair when a push brings `after`, and each then
 * costs the size of the change instead of the size of the type.
 */
export function snapshotDiff(
  before: ReadonlyMap<string, EncodedResource>,
  after: ReadonlyMap<string, EncodedResource>,
): SnapshotDiff {
  const cached = diffs.get(before);
  if (cached?.next === after) return cached.diff;
  const upserted: EncodedResource[] = [];
  const changed = new Set<string>();
  for (const [name, resource] of after) {
    const earlier = before.get(name);
    if (earlier === resource || earlier?.version === resource.version) continue;
    upserted.push(resource);
    if (earlier) changed.add(name);
  }
  const removed: string[] = [];
  for (const name of before.keys()) if (!after.has(name)) removed.push(name);
  upserted.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const diff = { upserted, changed, removed: removed.sort() };
  diffs.set(before, { next: after, diff });
  return diff;
}

const absentNames = new WeakMap<
  ReadonlyMap<string, EncodedResource>,
  WeakMap<ReadonlySet<string>, readonly string[]>
>();

/** The names of `names` that `available` lacks, computed once per (map, interned name set). */
export function namesAbsentFrom(
  available: ReadonlyMap<string, EncodedResource>,
  names: ReadonlySet<string>,
): readonly string[] {
  let byNames = absentNames.get(available);
  if (!byNames) absentNames.set(available, (byNames = new WeakMap()));
  let absent = byNames.get(names);
  if (!absent) byNames.set(names, (absent = [...names].filter((name) => !available.has(name))));
  return absent;
}
