import type { EncodedResource } from "../cache/snapshot.js";
import { AdsStream, type TypeState } from "./ads-stream.js";
import { ResponseTracker } from "./proxy-state.js";
import { contentVersion, wholeTypeVersion } from "./versions.js";
import { decodeSotwRequest, encodeSotwResponse, type SotwRequest } from "./wire.js";

interface SotwTypeState extends TypeState {
  /** Subscribed to every resource of the type ("*", or only ever empty resource_names). */
  wildcard: boolean;
  /** The proxy has named resources at some point, which ends the legacy empty-list wildcard. */
  everNamed: boolean;
  names: ReadonlySet<string>;
  /** What the last response carried, so a make-before-break push can keep what the snapshot dropped. */
  sent: ReadonlyMap<string, EncodedResource>;
}

/**
 * State of the world (StreamAggregatedResources): every response of a type
 * carries all subscribed resources of that type that exist, and its
 * version_info is a hash of their names and versions, so a response is only
 * sent when that content differs from the last response of the type (ACKed
 * or NACKed: a NACKed version is not sent again, the next different one is).
 */
export class SotwStream extends AdsStream<SotwTypeState, SotwRequest> {
  protected decode(bytes: Uint8Array): SotwRequest {
    return decodeSotwRequest(bytes);
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
        names: new Set(),
        sent: new Map(),
      };
      this.types.set(request.typeUrl, state);
      this.newType(request.typeUrl);
    }
    this.subscribe(state, request.resourceNames);
    this.update(state);
  }

  /** SotW requests carry the whole subscription each time. */
  private subscribe(state: SotwTypeState, resourceNames: readonly string[]): void {
    const named = resourceNames.filter((n) => n !== "*");
    state.wildcard = resourceNames.includes("*") || (resourceNames.length === 0 && !state.everNamed);
    if (named.length > 0) state.everNamed = true;
    state.names = new Set(named);
  }

  protected respond(state: SotwTypeState, holdRemovals: boolean): void {
    const typeUrl = state.tracker.typeUrl;
    const available = this.snapshot.resources.get(typeUrl) ?? new Map<string, EncodedResource>();
    const selected = new Map<string, EncodedResource>();
    if (state.wildcard) for (const [name, r] of available) selected.set(name, r);
    for (const name of state.names) {
      const r = available.get(name);
      if (r) selected.set(name, r);
    }
    state.removalsHeld = false;
    if (holdRemovals) {
      for (const [name, r] of state.sent) {
        if (!selected.has(name) && (state.wildcard || state.names.has(name))) {
          selected.set(name, r);
          state.removalsHeld = true;
        }
      }
    }
    // A wildcard subscription with nothing held back selects the whole type: its version is shared.
    const whole = state.wildcard && !state.removalsHeld && selected.size === available.size;
    const version = whole ? wholeTypeVersion(available) : contentVersion(selected.values());
    if (state.tracker.lastSentVersion === version) return;

    const resources = [...selected.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const nonce = this.nonces.next();
    const bytes = encodeSotwResponse({ versionInfo: version, typeUrl, nonce, resources });
    state.sent = selected;
    this.write(state, bytes, {
      nonce,
      generation: this.generation,
      version,
      names: resources.map((r) => r.name),
    });
  }
}
