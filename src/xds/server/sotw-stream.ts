import type { EncodedResource } from "../cache/snapshot.js";
import { AdsStream, type TypeState } from "./ads-stream.js";
import { nameSet, NO_NAMES, sameNames } from "./name-sets.js";
import { ResponseTracker } from "./proxy-state.js";
import { Selection, selectionOf } from "./sotw-selection.js";
import { ENDPOINT, ROUTE } from "./type-urls.js";
import { decodeSotwRequest, type SotwRequest } from "./request-wire.js";
import { footprintOfNames, NOTHING_HELD, type Footprint } from "./held-names.js";
import type { StreamLimits } from "./limits.js";
import { withNonce } from "./wire.js";

const NOTHING: ReadonlyMap<string, EncodedResource> = new Map();
const NOTHING_SENT = new Selection("", NOTHING);

/**
 * Only Listener and Cluster responses are the state of the world: a
 * RouteConfiguration or ClusterLoadAssignment left out of a response is
 * not removed (Envoy and gRPC drop them with the listener or cluster that
 * names them). So a push of these carries only what changed, as Istio's
 * incremental EDS does: one endpoint change costs a sidecar one resource,
 * not its thousand.
 */
const INCREMENTAL_TYPES: ReadonlySet<string> = new Set([ENDPOINT, ROUTE]);

interface SotwTypeState extends TypeState {
  /** Subscribed to every resource of the type ("*", or only ever empty resource_names). */
  wildcard: boolean;
  /** The proxy has named resources at some point, which ends the legacy empty-list wildcard. */
  everNamed: boolean;
  /** Interned (see name-sets.ts): streams with the same subscription share it, and what it selects. */
  names: ReadonlySet<string>;
  /**
   * What the proxy holds (as far as responses go): what the last full
   * response carried, with what incremental ones changed since. A
   * make-before-break push keeps what the snapshot dropped from it.
   */
  sent: Selection;
  /** Counts changes of `names`: a new subscription, even back to an earlier set, is a new number. */
  subscription: number;
  /**
   * The subscription the proxy had when it was sent `sent`. A number, not
   * the set: a stream that keeps changing its names while nothing new is
   * sent would otherwise keep an old set alive beside the current one.
   */
  sentFor?: number;
}

/**
 * State of the world (StreamAggregatedResources): every response of a type
 * carries all subscribed resources of that type that exist, and its
 * version_info is a hash of their names and versions, so a response is only
 * sent when that content differs from the last response of the type (ACKed
 * or NACKed: a NACKed version is not sent again, the next different one is).
 */
export class SotwStream extends AdsStream<SotwTypeState, SotwRequest> {
  protected decode(bytes: Uint8Array, limits: StreamLimits): SotwRequest {
    return decodeSotwRequest(bytes, limits, this.types);
  }

  protected namesIn(request: SotwRequest): number {
    return request.resourceNames.length;
  }

  protected holding(state: SotwTypeState): Footprint {
    return footprintOfNames(state.names);
  }

  protected handle(request: SotwRequest): void {
    let state = this.types.get(request.typeUrl);
    if (state && request.responseNonce !== "") {
      if (state.tracker.isStale(request.responseNonce)) {
        // Superseded by a later response the proxy will answer; the protocol says to ignore it.
        this.log.debug(
          { typeUrl: request.typeUrl, nonce: request.responseNonce },
          "ignored request with stale nonce",
        );
        return;
      }
      this.answered(state, request.responseNonce, request.errorDetail);
    }
    if (!state) {
      // A nonce on the first request of a type names a response of an earlier stream: treated as new.
      state = {
        tracker: new ResponseTracker(request.typeUrl),
        removalsHeld: false,
        wildcard: false,
        everNamed: false,
        names: NO_NAMES,
        subscription: 0,
        held: NOTHING_HELD,
        sent: NOTHING_SENT,
      };
      this.types.set(request.typeUrl, state);
      this.newType(request.typeUrl);
    }
    // An ACK that repeats the subscription, as decode found, leaves it as it is.
    if (request.sameNamesAs !== state.names || state.wildcard) this.subscribe(state, request.resourceNames);
    this.update(state);
  }

  /** SotW requests carry the whole subscription each time. */
  private subscribe(state: SotwTypeState, resourceNames: readonly string[]): void {
    const named = resourceNames.filter((n) => n !== "*");
    state.wildcard = resourceNames.includes("*") || (resourceNames.length === 0 && !state.everNamed);
    if (named.length > 0) state.everNamed = true;
    if (!sameNames(state.names, named)) {
      state.names = nameSet(named);
      state.subscription++;
    }
  }

  protected respond(state: SotwTypeState, holdRemovals: boolean): void {
    const typeUrl = state.tracker.typeUrl;
    const available = this.snapshot.resources.get(typeUrl) ?? NOTHING;
    let selection = selectionOf(typeUrl, available, state.wildcard, state.names);
    const incremental = INCREMENTAL_TYPES.has(typeUrl) && !state.wildcard;
    state.removalsHeld = false;
    if (holdRemovals && !incremental && state.sent !== selection) {
      const held = state.sent.resources.filter(
        (r) => !selection.byName.has(r.name) && (state.wildcard || state.names.has(r.name)),
      );
      if (held.length > 0) {
        const byName = new Map(selection.byName);
        for (const r of held) byName.set(r.name, r);
        selection = new Selection(typeUrl, byName);
        state.removalsHeld = true;
      }
    }
    if (state.tracker.lastSentVersion === selection.version) return;

    // The same subscription as the last response: only what changed since (see INCREMENTAL_TYPES).
    const changes =
      incremental && state.sentFor === state.subscription && state.tracker.lastSentVersion !== undefined
        ? selection.changesSince(state.sent)
        : selection;
    const nonce = this.nonces.next();
    state.sent = selection;
    state.sentFor = state.subscription;
    this.write(state, withNonce(changes.body(), nonce), {
      nonce,
      generation: this.generation,
      version: selection.version,
      names: changes.names,
    });
  }
}
