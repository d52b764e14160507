import type { EncodedResource } from "../cache/snapshot.js";

/** The proxy was told this explicitly subscribed name does not exist. */
export const ABSENT = null;
export type KnownVersion = string | typeof ABSENT;

/**
 * What a delta proxy holds of one type: the version of each resource, or
 * ABSENT. Once the server has brought the proxy in line with a snapshot,
 * that is "the snapshot's resources (those it subscribes to by name, unless
 * wildcard)", so the proxy holds a reference to the snapshot's map, shared
 * with every other proxy in line with it, instead of a map of its own. Only
 * what differs from that base (ABSENT names, changes since) is its own.
 */
export class KnownVersions {
  private base: ReadonlyMap<string, EncodedResource> = new Map();
  /** Only these names of the base, or all of it. */
  private only: ReadonlySet<string> | undefined;
  /** Differences from the base; undefined shadows a base entry the proxy no longer has. */
  private overlay = new Map<string, KnownVersion | undefined>();

  /** What a reconnecting proxy says it has (initial_resource_versions); the map becomes the known one's own. */
  static of(versions: Map<string, string>): KnownVersions {
    const known = new KnownVersions();
    known.overlay = versions;
    return known;
  }

  get(name: string): KnownVersion | undefined {
    if (this.overlay.has(name)) return this.overlay.get(name);
    if (this.only && !this.only.has(name)) return undefined;
    return this.base.get(name)?.version;
  }

  set(name: string, version: KnownVersion): void {
    this.overlay.set(name, version);
  }

  delete(name: string): void {
    const inBase = (!this.only || this.only.has(name)) && this.base.has(name);
    if (inBase) this.overlay.set(name, undefined);
    else this.overlay.delete(name);
  }

  /** Every name the proxy holds a version of, or was told is absent. */
  *names(): Iterable<string> {
    for (const name of this.base.keys())
      if ((!this.only || this.only.has(name)) && !this.overlay.has(name)) yield name;
    for (const [name, version] of this.overlay) if (version !== undefined) yield name;
  }

  /**
   * The proxy now holds exactly `resources` (only the names in `only`, if
   * given) plus the `absent` names, as after a response that left nothing
   * to send: the overlay goes.
   */
  inLineWith(
    resources: ReadonlyMap<string, EncodedResource>,
    only: ReadonlySet<string> | undefined,
    absent: readonly string[],
  ): void {
    this.base = resources;
    this.only = only;
    this.overlay = new Map();
    for (const name of absent) this.overlay.set(name, ABSENT);
  }
}
