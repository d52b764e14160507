import type { EncodedResource } from "../cache/snapshot.js";
import { AdsStream, type TypeState } from "./ads-stream.js";
import { ABSENT, KnownVersions } from "./known-versions.js";
import { nameSet, NO_NAMES } from "./name-sets.js";
import { ResponseTracker } from "./proxy-state.js";
import { decodeDeltaRequest, type DeltaRequest } from "./request-wire.js";
import { footprintOfNames, footprintOfVersions, NOTHING_HELD, plus, type Footprint } from "./held-names.js";
import type { StreamLimits } from "./limits.js";
import { CLUSTER, ENDPOINT } from "./type-urls.js";
import { encodeDeltaResponse, withNonce } from "./wire.js";
import { namesAbsentFrom, snapshotDiff } from "./snapshot-diff.js";

const NOTHING: ReadonlyMap<string, EncodedResource> = new Map();

interface DeltaTypeState extends TypeState {
  wildcard: boolean;
  /** Explicitly subscribed names; interned (see name-sets.ts), so replaced rather than changed. */
  names: ReadonlySet<string>;
  /** The version of each resource the proxy has (as far as the server sent or was told), or ABSENT. */
  readonly known: KnownVersions;
  /** The initial_resource_versions `known` holds until the proxy is first brought in line. */
  initialVersions: Footprint;
  /**
   * The first request of a type gets an answer, even an empty one, so the
   * proxy's initial fetch completes; except a named subscription that lists
   * the versions it has (a reconnect), which is answered only if something
   * changed, as go-control-plane does: it has everything already.
   */
  mustRespond: boolean;
  /**
   * The snapshot map and subscription with which the proxy was last found
   * to have everything: until one of them changes there is nothing to send,
   * which is what every ACK finds.
   */
  inLine?: { readonly available: ReadonlyMap<string, EncodedResource>; readonly names: ReadonlySet<string> };
}

/**
 * Incremental xDS (DeltaAggregatedResources): the server keeps, per type,
 * what the proxy has and sends only resources whose version differs, plus
 * removed_resources for names the proxy has (or explicitly asked for) that
 * do not exist. On reconnect, initial_resource_versions seeds that
 * knowledge, so unchanged resources are not sent again.
 */
export class DeltaStream extends AdsStream<DeltaTypeState, DeltaRequest> {
  protected decode(bytes: Uint8Array, limits: StreamLimits): DeltaRequest {
    return decodeDeltaRequest(bytes, limits);
  }

  protected namesIn(request: DeltaRequest): number {
    return (
      request.resourceNamesSubscribe.length +
      request.resourceNamesUnsubscribe.length +
      request.initialResourceVersions.size
    );
  }

  protected holding(state: DeltaTypeState): Footprint {
    return plus(footprintOfNames(state.names), state.initialVersions);
  }

  protected handle(request: DeltaRequest): void {
    const subscribe = request.resourceNamesSubscribe;
    let state = this.types.get(request.typeUrl);
    if (!state) {
      state = {
        tracker: new ResponseTracker(request.typeUrl),
        removalsHeld: false,
        // An empty first subscription is the legacy wildcard.
        wildcard: subscribe.length === 0,
        names: NO_NAMES,
        held: NOTHING_HELD,
        known: KnownVersions.of(request.initialResourceVersions),
        initialVersions: footprintOfVersions(request.initialResourceVersions),
        mustRespond:
          subscribe.length === 0 || subscribe.includes("*") || request.initialResourceVersions.size === 0,
      };
      this.types.set(request.typeUrl, state);
      this.newType(request.typeUrl);
    } else if (request.responseNonce !== "") {
      // Unlike SotW, a request with a stale nonce is not dropped: its
      // subscription changes are deltas that would otherwise be lost. It
      // just does not count as an answer.
      if (state.tracker.isStale(request.responseNonce)) {
        this.log.debug(
          { typeUrl: request.typeUrl, nonce: request.responseNonce },
          "stale nonce is not an answer",
        );
      } else {
        this.answered(state, request.responseNonce, request.errorDetail);
      }
    }
    if (subscribe.length > 0 || request.resourceNamesUnsubscribe.length > 0) {
      this.changeSubscription(state, subscribe, request.resourceNamesUnsubscribe);
      state.inLine = undefined;
    }
    this.update(state);
  }

  private changeSubscription(
    state: DeltaTypeState,
    subscribe: readonly string[],
    unsubscribe: readonly string[],
  ) {
    const names = new Set(state.names);
    for (const name of subscribe) {
      if (name === "*") state.wildcard = true;
      else names.add(name);
    }
    for (const name of unsubscribe) {
      if (name === "*") {
        state.wildcard = false;
        // The proxy drops what it only had through the wildcard.
        for (const known of [...state.known.names()]) if (!names.has(known)) state.known.delete(known);
        continue;
      }
      names.delete(name);
      // Under a wildcard the proxy keeps an existing resource it unsubscribed by name.
      if (!state.wildcard || state.known.get(name) === ABSENT) state.known.delete(name);
    }
    state.names = nameSet([...names]);
  }

  protected respond(state: DeltaTypeState, holdRemovals: boolean): void {
    const typeUrl = state.tracker.typeUrl;
    const available = this.snapshot.resources.get(typeUrl) ?? NOTHING;
    const inLine = state.inLine;
    if (!state.mustRespond && inLine?.available === available && inLine.names === state.names) return;

    const { known, names } = state;
    let upserts: EncodedResource[] = [];
    /** Resources the proxy had in another version. */
    let changed: string[] = [];
    let removals: string[] = [];
    if (!state.mustRespond && inLine?.names === names) {
      // In line with an earlier map and the same subscription: the proxy has that map's
      // resources (of its names), so what it lacks is what changed between the maps.
      const diff = snapshotDiff(inLine.available, available);
      const wanted = (name: string) => state.wildcard || names.has(name);
      upserts = diff.upserted.filter((r) => wanted(r.name));
      changed = upserts.filter((r) => diff.changed.has(r.name)).map((r) => r.name);
      removals = diff.removed.filter(wanted);
    } else {
      this.compare(state, available, upserts, changed, removals);
    }
    state.removalsHeld = holdRemovals && removals.length > 0;
    if (state.removalsHeld) removals = [];
    const sending = upserts.length > 0 || removals.length > 0 || state.mustRespond;
    if (sending) this.send(state, available, upserts, removals);
    // Recorded as sent, not as ACKed: after a NACK the same versions are not sent again.
    if (state.removalsHeld) {
      state.inLine = undefined;
      for (const r of upserts) known.set(r.name, r.version);
    } else {
      state.inLine = { available, names };
      state.initialVersions = NOTHING_HELD; // inLineWith replaces them
      known.inLineWith(available, state.wildcard ? undefined : names, namesAbsentFrom(available, names));
    }
    if (sending && typeUrl === CLUSTER && changed.length > 0) this.resendEndpoints(changed);
  }

  /**
   * What the proxy lacks of `available`, resource by resource against what
   * it is known to have: upserts, the names of those it has in another
   * version (`changed`), and removals.
   */
  private compare(
    state: DeltaTypeState,
    available: ReadonlyMap<string, EncodedResource>,
    upserts: EncodedResource[],
    changed: string[],
    removals: string[],
  ): void {
    const { known, names } = state;
    const consider = (name: string) => {
      const resource = available.get(name);
      const has = known.get(name);
      if (resource) {
        if (has !== resource.version) {
          upserts.push(resource);
          if (typeof has === "string") changed.push(name);
        }
      } else if (has !== ABSENT) {
        // The proxy has it (a version), or asked for it and was never told it does not exist (undefined).
        removals.push(name);
      }
    };
    if (state.wildcard) {
      for (const name of available.keys()) consider(name);
      for (const name of names) if (!available.has(name)) consider(name);
      for (const name of [...known.names()]) if (!available.has(name) && !names.has(name)) consider(name);
    } else {
      for (const name of names) consider(name);
    }
  }

  /**
   * Envoy replaces a changed EDS cluster with a new one that warms until it
   * gets its ClusterLoadAssignment, or until initial_fetch_timeout (15 s by
   * default) passes. The subscription is unchanged, so the proxy asks for
   * nothing: the endpoints are sent again after the clusters, changed or not,
   * as Istio does. (Skiff's EDS clusters name their endpoints after themselves.)
   */
  private resendEndpoints(clusters: readonly string[]): void {
    const endpoints = this.types.get(ENDPOINT);
    if (!endpoints) return;
    const held = clusters.filter((name) => typeof endpoints.known.get(name) === "string");
    if (held.length === 0) return;
    for (const name of held) endpoints.known.delete(name);
    endpoints.inLine = undefined;
    // Awaiting an answer, the endpoints go out with the response that follows it.
    if (!endpoints.tracker.awaitingAnswer) this.respond(endpoints, true);
  }

  private send(
    state: DeltaTypeState,
    available: ReadonlyMap<string, EncodedResource>,
    upserts: EncodedResource[],
    removals: string[],
  ): void {
    const typeUrl = state.tracker.typeUrl;
    const nonce = this.nonces.next();
    const version = String(this.generation);
    // Everything at once (every proxy's first response of a type) is encoded once per snapshot and shared.
    const whole =
      upserts.length === available.size && removals.length === 0
        ? wholeType(typeUrl, available, version)
        : undefined;
    const bytes = whole
      ? withNonce(whole.body, nonce)
      : encodeDeltaResponse({
          systemVersionInfo: version,
          typeUrl,
          nonce,
          resources: upserts.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
          removedResources: removals.sort(),
        });
    state.mustRespond = false;
    this.write(state, bytes, {
      nonce,
      generation: this.generation,
      version,
      names: whole ? whole.names : upserts.map((r) => r.name),
    });
  }
}

interface WholeType {
  readonly version: string;
  readonly names: readonly string[];
  readonly body: Uint8Array;
}
const wholeTypes = new WeakMap<ReadonlyMap<string, EncodedResource>, WholeType>();

/** A delta response, without its nonce, that adds every resource of a type (cached per snapshot map). */
function wholeType(
  typeUrl: string,
  available: ReadonlyMap<string, EncodedResource>,
  version: string,
): WholeType {
  const cached = wholeTypes.get(available);
  if (cached?.version === version) return cached;
  const resources = [...available.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const whole = {
    version,
    names: resources.map((r) => r.name),
    body: encodeDeltaResponse({
      systemVersionInfo: version,
      typeUrl,
      nonce: "",
      resources,
      removedResources: [],
    }),
  };
  // An empty map may be a stand-in shared by several types.
  if (available.size > 0) wholeTypes.set(available, whole);
  return whole;
}
