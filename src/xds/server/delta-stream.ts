import type { EncodedResource } from "../cache/snapshot.js";
import { AdsStream, type TypeState } from "./ads-stream.js";
import { ResponseTracker } from "./proxy-state.js";
import { decodeDeltaRequest, encodeDeltaResponse, type DeltaRequest } from "./wire.js";

/** In `known`: the proxy was told this explicitly subscribed name does not exist. */
const ABSENT = null;

interface DeltaTypeState extends TypeState {
  wildcard: boolean;
  /** Explicitly subscribed names. */
  readonly names: Set<string>;
  /** The version of each resource the proxy has (as far as the server sent or was told), or ABSENT. */
  readonly known: Map<string, string | typeof ABSENT>;
  /** The first request of a type always gets an answer, even an empty one, so the proxy's initial fetch completes. */
  mustRespond: boolean;
}

/**
 * Incremental xDS (DeltaAggregatedResources): the server keeps, per type,
 * what the proxy has and sends only resources whose version differs, plus
 * removed_resources for names the proxy has (or explicitly asked for) that
 * do not exist. On reconnect, initial_resource_versions seeds that
 * knowledge, so unchanged resources are not sent again.
 */
export class DeltaStream extends AdsStream<DeltaTypeState, DeltaRequest> {
  protected decode(bytes: Uint8Array): DeltaRequest {
    return decodeDeltaRequest(bytes);
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
        names: new Set(),
        known: new Map(Object.entries(request.initialResourceVersions)),
        mustRespond: true,
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
    this.changeSubscription(state, subscribe, request.resourceNamesUnsubscribe);
    this.update(state);
  }

  private changeSubscription(
    state: DeltaTypeState,
    subscribe: readonly string[],
    unsubscribe: readonly string[],
  ) {
    for (const name of subscribe) {
      if (name === "*") state.wildcard = true;
      else state.names.add(name);
    }
    for (const name of unsubscribe) {
      if (name === "*") {
        state.wildcard = false;
        // The proxy drops what it only had through the wildcard.
        for (const known of [...state.known.keys()]) if (!state.names.has(known)) state.known.delete(known);
        continue;
      }
      state.names.delete(name);
      // Under a wildcard the proxy keeps an existing resource it unsubscribed by name.
      if (!state.wildcard || state.known.get(name) === ABSENT) state.known.delete(name);
    }
  }

  protected respond(state: DeltaTypeState, holdRemovals: boolean): void {
    const typeUrl = state.tracker.typeUrl;
    const available = this.snapshot.resources.get(typeUrl) ?? new Map<string, EncodedResource>();
    const scope = new Set(state.names);
    if (state.wildcard) {
      for (const name of available.keys()) scope.add(name);
      for (const name of state.known.keys()) scope.add(name);
    }

    const upserts: EncodedResource[] = [];
    let removals: string[] = [];
    for (const name of scope) {
      const resource = available.get(name);
      const has = state.known.get(name);
      if (resource) {
        if (has !== resource.version) upserts.push(resource);
      } else if (has !== ABSENT) {
        // The proxy has it (a version), or asked for it and was never told it does not exist (undefined).
        removals.push(name);
      }
    }
    state.removalsHeld = holdRemovals && removals.length > 0;
    if (state.removalsHeld) removals = [];
    if (upserts.length === 0 && removals.length === 0 && !state.mustRespond) return;

    upserts.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    removals.sort();
    const nonce = this.nonces.next();
    const version = String(this.generation);
    const bytes = encodeDeltaResponse({
      systemVersionInfo: version,
      typeUrl,
      nonce,
      resources: upserts,
      removedResources: removals,
    });
    // Recorded as sent, not as ACKed: after a NACK the same versions are not sent again.
    for (const r of upserts) state.known.set(r.name, r.version);
    for (const name of removals) {
      if (state.names.has(name)) state.known.set(name, ABSENT);
      else state.known.delete(name);
    }
    state.mustRespond = false;
    this.write(state, bytes, {
      nonce,
      generation: this.generation,
      version,
      names: upserts.map((r) => r.name),
    });
  }
}
