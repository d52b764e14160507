import type { EncodedResource } from "../cache/snapshot.js";
import { contentVersion } from "./versions.js";
import { encodeSotwResponseBody } from "./wire.js";

/** A SotW response without its nonce: some resources under a version_info, encoded on first use. */
export class SotwResponseBody {
  private encoded?: Uint8Array;
  readonly names: readonly string[];

  constructor(
    protected readonly typeUrl: string,
    readonly version: string,
    /** Sorted by name, as responses list them. */
    readonly resources: readonly EncodedResource[],
  ) {
    this.names = resources.map((r) => r.name);
  }

  body(): Uint8Array {
    this.encoded ??= encodeSotwResponseBody({
      versionInfo: this.version,
      typeUrl: this.typeUrl,
      resources: this.resources,
    });
    return this.encoded;
  }
}

/**
 * What one SotW response of a type carries: the subscribed resources that
 * exist, their version_info and, encoded on first use, the response without
 * its nonce. Streams with the same subscription to the same snapshot share
 * one Selection, so a push to a thousand sidecars computes the version,
 * sorts and encodes once, and each stream only appends its nonce.
 */
export class Selection extends SotwResponseBody {
  private readonly changes = new WeakMap<Selection, SotwResponseBody>();

  constructor(
    typeUrl: string,
    /** The resources by name. */
    readonly byName: ReadonlyMap<string, EncodedResource>,
  ) {
    const sorted = [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    super(typeUrl, contentVersion(sorted), sorted);
  }

  /**
   * The response that brings a proxy holding `previous` to this selection
   * where left-out resources stay (EDS and RDS): the resources that are new
   * or changed, under this selection's version. Shared like the selection.
   */
  changesSince(previous: Selection): SotwResponseBody {
    let changes = this.changes.get(previous);
    if (!changes) {
      const changed = this.resources.filter((r) => previous.byName.get(r.name)?.version !== r.version);
      this.changes.set(previous, (changes = new SotwResponseBody(this.typeUrl, this.version, changed)));
    }
    return changes;
  }
}

interface SelectionsOfType {
  whole?: Selection;
  readonly named: WeakMap<ReadonlySet<string>, Selection>;
}

/** Per snapshot map of a type; they go with the snapshot. */
const memo = new WeakMap<ReadonlyMap<string, EncodedResource>, SelectionsOfType>();

/**
 * The Selection of `available` (one type of one snapshot) for a subscription:
 * a wildcard takes every resource; otherwise the names that exist. `names`
 * must be an interned set (see name-sets.ts) for the result to be shared.
 */
export function selectionOf(
  typeUrl: string,
  available: ReadonlyMap<string, EncodedResource>,
  wildcard: boolean,
  names: ReadonlySet<string>,
): Selection {
  // An empty map may be a stand-in shared by several types: nothing to share there.
  if (available.size === 0) return new Selection(typeUrl, available);
  let ofType = memo.get(available);
  if (!ofType) memo.set(available, (ofType = { named: new WeakMap() }));
  if (wildcard) return (ofType.whole ??= new Selection(typeUrl, available));
  let selection = ofType.named.get(names);
  if (!selection) {
    const byName = new Map<string, EncodedResource>();
    for (const name of names) {
      const resource = available.get(name);
      if (resource) byName.set(name, resource);
    }
    ofType.named.set(names, (selection = new Selection(typeUrl, byName)));
  }
  return selection;
}
