/**
 * Subscriptions as shared, immutable name sets. A thousand sidecars of one
 * mesh subscribe to the same thousand EDS names: interning makes them hold
 * one Set instead of a thousand copies of it (and of its strings), and lets
 * per-subscription results (versions, selections, sorted lists) be computed
 * once per set and looked up by identity.
 *
 * A set stays interned while any stream holds it; the registry forgets the
 * ones nobody references any more.
 */
const interned = new Map<string, WeakRef<ReadonlySet<string>>>();
const forget = new FinalizationRegistry<string>((key) => {
  if (interned.get(key)?.deref() === undefined) interned.delete(key);
});

export const NO_NAMES: ReadonlySet<string> = new Set();

/** The shared set of these names (in this order or not: equal lists in the same order share). */
export function nameSet(names: readonly string[]): ReadonlySet<string> {
  if (names.length === 0) return NO_NAMES;
  const key = names.join("\n");
  const existing = interned.get(key)?.deref();
  // Names may hold the separator: a key is only a candidate, the names decide.
  if (existing && sameNames(existing, names)) return existing;
  const set: ReadonlySet<string> = new Set(names);
  if (existing) return set;
  interned.set(key, new WeakRef(set));
  forget.register(set, key);
  return set;
}

/**
 * Whether a request lists the set's names in the set's order (the common
 * case: an ACK repeats the subscription as it was). Order makes it exact:
 * a list with a repeated name never matches.
 */
export function sameNames(set: ReadonlySet<string>, names: readonly string[]): boolean {
  if (names.length !== set.size) return false;
  let i = 0;
  for (const name of set) if (names[i++] !== name) return false;
  return true;
}

const sortedLists = new WeakMap<ReadonlySet<string>, readonly string[]>();

/** The set's names sorted, computed once per set. */
export function sortedNames(set: ReadonlySet<string>): readonly string[] {
  let sorted = sortedLists.get(set);
  if (!sorted) sortedLists.set(set, (sorted = [...set].sort()));
  return sorted;
}
