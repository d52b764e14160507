import { tooMany, type StreamLimits } from "./limits.js";

/**
 * Accounting of the names a stream has given the server to keep (see
 * StreamLimits.maxNames): each type reports what it holds after every
 * request of that type, and the stream's total is checked against its
 * limits. Counted per stream, even where streams share one interned set:
 * the bound is on what one stream can make the server hold.
 */
export interface Footprint {
  readonly names: number;
  readonly characters: number;
}

export const NOTHING_HELD: Footprint = { names: 0, characters: 0 };

const ofSets = new WeakMap<ReadonlySet<string>, Footprint>();

/** What an (interned, immutable) name set holds, computed once per set. */
export function footprintOfNames(set: ReadonlySet<string>): Footprint {
  if (set.size === 0) return NOTHING_HELD;
  let footprint = ofSets.get(set);
  if (!footprint) {
    let characters = 0;
    for (const name of set) characters += name.length;
    ofSets.set(set, (footprint = { names: set.size, characters }));
  }
  return footprint;
}

/** What a delta reconnect's initial_resource_versions hold: each name and its version. */
export function footprintOfVersions(versions: ReadonlyMap<string, string>): Footprint {
  if (versions.size === 0) return NOTHING_HELD;
  let characters = 0;
  for (const [name, version] of versions) characters += name.length + version.length;
  return { names: versions.size, characters };
}

export function plus(a: Footprint, b: Footprint): Footprint {
  if (b === NOTHING_HELD) return a;
  if (a === NOTHING_HELD) return b;
  return { names: a.names + b.names, characters: a.characters + b.characters };
}

/** One stream's total. */
export class HeldNames {
  private names = 0;
  private characters = 0;

  constructor(private readonly limits: Pick<StreamLimits, "maxNames" | "maxNameCharacters">) {}

  /** A type now holds `now` instead of `before`; throws StreamLimitExceeded past a limit. */
  replace(before: Footprint, now: Footprint): void {
    if (before === now) return;
    this.names += now.names - before.names;
    this.characters += now.characters - before.characters;
    if (this.names > this.limits.maxNames) throw tooMany("resource names held", this.limits.maxNames);
    if (this.characters > this.limits.maxNameCharacters)
      throw tooMany("characters of resource names held", this.limits.maxNameCharacters);
  }
}
