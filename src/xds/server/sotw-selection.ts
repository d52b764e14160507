import type { EncodedResource } from "../cache/snapshot.js";
import { contentVersion } from "./versions.js";
import { encodeSotwResponseBody } from "./wire.js";

/**
 * What one SotW response of a type carries: the subscribed resources that
 * exist, their version_info and, encoded on first use, the response without
 * its nonce. Streams with the same subscription to the same snapshot share
 * one Selection, so a push to a thousand sidecars computes the version,
 * sorts and encodes once, and each stream only appends its nonce.
 */
export class Selection {
  private encoded?: Uint8Array;
  /** Sorted by name, as responses list them. */
  readonly resources: readonly EncodedResource[];
  readonly names: readonly string[];
  readonly version: string;

  constructor(
    readonly typeUrl: string,
    /** The resources by name. */
    readonly byName: ReadonlyMap<string, EncodedResource>,
  ) {
    this.resources = [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.names = this.resources.map((r) => r.name);
    this.version = contentVersion(this.resources);
  }

  /** The encoded DiscoveryResponse without its nonce. */
  body(): Uint8Array {
    this.encoded ??= encodeSotwResponseBody({
      versionInfo: this.version,
      typeUrl: this.typeUrl,
      resources: this.resources,
    });
    return this.encoded;
  }

  private readonly changes = new WeakMap<Selection, Changes>();

  /**
   * The response that brings a proxy holding `previous` to this selection
   * where left-out resources stay (EDS and RDS): the resources that are new
   * or changed, under this selection's version. Shared like the selection.
   */
  changesSince(previous: Selection): Changes {
    let changes = this.changes.get(previous);
    if (!changes) {
      const changed = this.resources.filter((r) => previous.byName.get(r.name)?.version !== r.version);
      this.changes.set(previous, (changes = new Changes(this.typeUrl, this.version, changed)));
    }
    return changes;
  }
}

/** Part of a Selection, as an incremental response carries it. */
export class Changes {
  private encoded?: Uint8Array;
  readonly names: readonly string[];

  constructor(
    private readonly typeUrl: string,
    private readonly version: string,
    private readonly resources: readonly EncodedResource[],
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
