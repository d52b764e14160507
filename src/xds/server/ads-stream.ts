import { status as GrpcStatus, type Metadata, type ServerDuplexStream } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type {
  ProxyNode,
  ProxyResponseStatus,
  Snapshot,
  SnapshotSource,
  WorkloadIdentity,
  EncodedResource,
} from "../cache/snapshot.js";
import {
  xdsAcks,
  xdsNacks,
  xdsPushDuration,
  xdsPushes,
  xdsStreamsRefused,
} from "../../observability/metrics.js";
import { TokenBucket } from "../../k8s/backoff.js";
import { HeldNames, type Footprint } from "./held-names.js";
import { StreamLimitExceeded, tooLong, tooMany, type StreamLimits } from "./limits.js";
import { authenticationFailure } from "./authentication-error.js";
import { keptNackMessage } from "./nack-message.js";
import type { ProxyState, ResponseTracker, SentResponse } from "./proxy-state.js";
import { sortedNames } from "./name-sets.js";
import { releaseReadBuffers } from "./read-buffers.js";
import { inPushOrder, isKnownType, shortType } from "./type-urls.js";
import { NonceSource } from "./versions.js";
import { proxyNode } from "./wire.js";

const NO_RESOURCES: ReadonlyMap<string, EncodedResource> = new Map();

/** What a stream needs from the server that owns it. */
export interface StreamHooks {
  readonly source: SnapshotSource;
  readonly logger: Logger;
  readonly limits: StreamLimits;
  identified(stream: AdsStream): void;
  closed(stream: AdsStream): void;
  responseStatus(status: ProxyResponseStatus): void;
  /** Pushes the stream in a later turn (see PushScheduler), as for a new generation. */
  pushLater(stream: AdsStream): void;
  /**
   * Verifies who the proxy is from its call metadata (a ServiceAccount
   * token), presented from `peer` (grpc-js's "address:port"). Resolves
   * undefined for a proxy that presented no credentials, and rejects when
   * they cannot be accepted: with an AuthenticationError, whose code the
   * stream ends with, or anything else for UNAVAILABLE.
   */
  authenticate?(node: ProxyNode, metadata: Metadata, peer: string): Promise<WorkloadIdentity | undefined>;
}

/** The per-type state both protocol variants keep. */
export interface TypeState {
  readonly tracker: ResponseTracker;
  /** The last response kept resources the snapshot no longer has; see AdsStream.push. */
  removalsHeld: boolean;
  /** Subscribed to every resource of the type. */
  wildcard: boolean;
  /** Resources subscribed by name. */
  readonly names: ReadonlySet<string>;
  /** What the type held when the stream last counted it (see HeldNames). */
  held: Footprint;
  /** The newest generation whose resources of the type the proxy runs (see AdsStream.ranGeneration). */
  ranAt?: number;
}

/** The fields every decoded request has. */
export interface AdsRequest {
  readonly node?: { readonly id: string; readonly cluster: string };
  readonly typeUrl: string;
}

export type AdsCall = ServerDuplexStream<Buffer, Uint8Array>;

/**
 * One ADS stream: the lifecycle, validation and push scheduling that SotW
 * and delta share. Subclasses decode requests, keep their subscriptions and
 * decide what a response for a type carries.
 *
 * Flow control is one outstanding response per type: a type is only
 * responded to when the proxy has answered (ACK or NACK) the previous
 * response of that type, and every answer recomputes from the latest
 * snapshot, so the proxy always gets the newest state without a queue of
 * intermediate ones.
 */
export abstract class AdsStream<S extends TypeState = TypeState, R extends AdsRequest = AdsRequest> {
  node?: ProxyNode;
  readonly connectedAt = new Date();
  protected snapshot: Snapshot = { generation: 0, resources: new Map() };
  protected readonly types = new Map<string, S>();
  protected readonly nonces: NonceSource;
  /** Types that were awaiting an answer when a push came, and still owe the proxy that push. */
  private readonly owed = new Set<string>();
  /** The newest generation the proxy has run in full on this stream (see ranGeneration). */
  private ran: number | undefined;
  /** The answer (ACK or NACK) in the request being handled, reported once it is (see reportAnswer). */
  private answer: ProxyResponseStatus | undefined;
  protected log: Logger;
  private closed = false;
  /** Requests that arrived while the proxy's credentials were being checked, in order. */
  private waiting: R[] | undefined;
  /** The resource names in `waiting`. */
  private namesWaiting = 0;
  private readonly held: HeldNames;
  private readonly requestRate: TokenBucket;
  /** Bytes written to the call that its HTTP/2 stream has not taken yet (see StreamLimits.pushBudgetBytes). */
  private unflushedBytes = 0;
  /** A push found the stream over its budget: it is pushed again once the bytes are taken. */
  private pushWhenFlushed = false;
  /** The subscribed types in push order, kept as types are added (pushes and ACKs walk them). */
  private typesInPushOrder: readonly string[] = [];
  /**
   * The last state() built, until the stream changes: a status pass reads
   * every stream's state, and most have not changed since the last pass.
   * Cleared before and after anything that can change the stream (a
   * request, a push, identification).
   */
  private lastState: ProxyState | undefined;
  private peer: string | undefined;

  constructor(
    readonly id: number,
    readonly protocol: "sotw" | "delta",
    private readonly call: AdsCall,
    protected readonly hooks: StreamHooks,
  ) {
    this.nonces = new NonceSource(id);
    this.held = new HeldNames(hooks.limits);
    this.requestRate = new TokenBucket(
      hooks.limits.requestsPerSecond,
      hooks.limits.requestBurst,
      performance.now(),
    );
    this.log = hooks.logger.child({ stream: id, protocol, peer: call.getPeer() });
    call.on("data", (bytes: Buffer) => this.receive(bytes));
    // The proxy half-closed: nothing more will be asked, so finish cleanly.
    call.on("end", () => this.end());
    call.on("cancelled", () => this.cleanup("cancelled by the proxy"));
    call.on("close", () => this.cleanup("closed"));
    call.on("error", (err: Error) => this.cleanup(`stream error: ${err.message}`));
  }

  /** Decodes one request; throws on malformed bytes, and StreamLimitExceeded past a limit. */
  protected abstract decode(bytes: Uint8Array, limits: StreamLimits): R;
  /** The resource names a request carries (before identification, they wait in memory). */
  protected abstract namesIn(request: R): number;
  /** What the type holds of the proxy's names now (see HeldNames). */
  protected abstract holding(state: S): Footprint;
  /** Applies one valid request of an identified proxy. */
  protected abstract handle(request: R): void;
  /**
   * Sends the type's response if it would tell the proxy something new.
   * With holdRemovals, resources the proxy has that the snapshot dropped are
   * kept (SotW) or not yet removed (delta), and removalsHeld is set.
   */
  protected abstract respond(state: S, holdRemovals: boolean): void;

  get isOpen(): boolean {
    return !this.closed;
  }

  /** The call metadata the proxy opened the stream with (its token), to check again later. */
  get credentials(): Metadata {
    return this.call.metadata;
  }

  /**
   * Pushes a new generation. Every changed type is written in
   * make-before-break order (CDS, EDS, SDS, LDS, RDS) with its additions and
   * changes only; what the snapshot dropped is removed once no type owes the
   * proxy part of this push any more, so a cluster is never removed before
   * the listeners and routes that stopped using it were sent. A type still
   * awaiting an answer owes its part until the proxy answers.
   */
  push(): void {
    if (this.closed || !this.node) return;
    if (this.unflushedBytes > this.hooks.limits.pushBudgetBytes) {
      this.pushWhenFlushed = true;
      return;
    }
    const stopTimer = xdsPushDuration.startTimer();
    this.lastState = undefined;
    try {
      this.snapshot = this.hooks.source.snapshotFor(this.node);
      for (const typeUrl of this.typesInPushOrder) {
        const state = this.types.get(typeUrl)!;
        if (state.tracker.awaitingAnswer) this.owed.add(typeUrl);
        else this.respondNoting(state, true);
      }
      this.releaseRemovals();
      this.noteRan();
    } catch (err) {
      this.internalError(err);
    } finally {
      this.lastState = undefined;
      stopTimer();
    }
  }

  /** Ends the stream with a status, as on server shutdown. */
  close(code: GrpcStatus, details: string): void {
    this.fail(code, details);
  }

  state(): ProxyState | undefined {
    if (!this.node) return undefined;
    this.lastState ??= {
      streamId: this.id,
      protocol: this.protocol,
      node: this.node,
      peer: (this.peer ??= this.call.getPeer()),
      connectedAt: this.connectedAt,
      types: this.typesInPushOrder.map((t) => {
        const state = this.types.get(t)!;
        return state.tracker.status(state.wildcard, sortedNames(state.names));
      }),
      syncedGeneration: this.syncedGeneration(),
      ranGeneration: this.ranGeneration(),
    };
    return this.lastState;
  }

  /**
   * The newest generation whose resources the proxy runs, of every type it
   * asked for: for each type, the generation of the last response it ACKed,
   * or the one a push found nothing new of the type to send for (its last
   * answer no NACK). A proxy keeps what it has until it ACKs something
   * newer, and keeps it on a NACK, so this only grows. Unlike
   * syncedGeneration it does not lapse while a newer push is in flight, and
   * it moves on while pushes keep coming (a type lags by at most the push it
   * is taking), so policy status and convergence neither flicker with every
   * push nor wait for a quiet moment. Undefined until every type has one.
   */
  ranGeneration(): number | undefined {
    this.noteRan();
    return this.ran;
  }

  private noteRan(): void {
    // A stream that has asked for nothing yet runs nothing.
    if (this.types.size === 0) return;
    let lowest = this.syncedGeneration() ?? Infinity;
    if (lowest === Infinity)
      for (const state of this.types.values()) {
        if (state.ranAt === undefined) return;
        lowest = Math.min(lowest, state.ranAt);
      }
    if (lowest > (this.ran ?? -1)) this.ran = lowest;
  }

  /** respond, noting that a type with nothing new to send runs this generation (see ranGeneration). */
  private respondNoting(state: S, holdRemovals: boolean): void {
    this.respond(state, holdRemovals);
    if (!state.tracker.awaitingAnswer && !state.tracker.nackStands)
      state.ranAt = Math.max(state.ranAt ?? -1, this.snapshot.generation);
  }

  /**
   * The snapshot generation the proxy is known to run: every type it
   * subscribes to has been evaluated against that generation, nothing is
   * outstanding, owed or held back, and the proxy's last answer of each type
   * was an ACK. Undefined while any of that is not yet true, or after a NACK.
   */
  syncedGeneration(): number | undefined {
    if (this.owed.size > 0) return undefined;
    for (const state of this.types.values())
      if (state.tracker.awaitingAnswer || state.removalsHeld || state.tracker.nackStands) return undefined;
    return this.snapshot.generation;
  }

  protected get generation(): number {
    return this.snapshot.generation;
  }

  protected newType(typeUrl: string): void {
    this.typesInPushOrder = inPushOrder(this.types.keys());
    if (!isKnownType(typeUrl))
      this.log.info({ typeUrl }, "proxy subscribed to a type Skiff does not produce");
  }

  /**
   * Called after every request that was not ignored: responds for the type
   * if it has no response outstanding (otherwise its answer will call this).
   * Removals stay held while some type still owes part of a push.
   */
  protected update(state: S): void {
    if (state.tracker.awaitingAnswer) return;
    const owedPush = this.owed.delete(state.tracker.typeUrl);
    this.respondNoting(state, owedPush || this.owed.size > 0);
    this.releaseRemovals();
  }

  private releaseRemovals(): void {
    if (this.owed.size > 0) return;
    for (const typeUrl of this.typesInPushOrder) {
      const state = this.types.get(typeUrl)!;
      if (state.removalsHeld && !state.tracker.awaitingAnswer) this.respondNoting(state, false);
    }
  }

  protected write(state: S, bytes: Uint8Array, sent: SentResponse): void {
    // Responses are built from this.snapshot: keep a reference to its map of the type, for CSDS.
    state.tracker.sent({
      ...sent,
      resources: this.snapshot.resources.get(state.tracker.typeUrl) ?? NO_RESOURCES,
    });
    xdsPushes.inc({ type: shortType(state.tracker.typeUrl) });
    this.log.debug(
      { typeUrl: state.tracker.typeUrl, nonce: sent.nonce, version: sent.version },
      "sent response",
    );
    this.unflushedBytes += bytes.length;
    this.call.write(bytes, () => this.flushed(bytes.length));
  }

  /** grpc-js handed a response to HTTP/2 (it never calls back for a cancelled call). */
  private flushed(bytes: number): void {
    this.unflushedBytes -= bytes;
    if (this.pushWhenFlushed && this.unflushedBytes <= this.hooks.limits.pushBudgetBytes) {
      this.pushWhenFlushed = false;
      this.hooks.pushLater(this);
    }
  }

  /** Records an ACK or NACK of the outstanding response, if the nonce names it. */
  protected answered(state: S, nonce: string, errorDetail: { message: string } | undefined): void {
    const error = errorDetail && {
      message: keptNackMessage(errorDetail.message, this.hooks.limits.maxNackMessageCodePoints),
    };
    const status = state.tracker.answer(this.node!.id, nonce, error);
    if (!status) return;
    if (status.acked) state.ranAt = Math.max(state.ranAt ?? -1, status.generation);
    if (status.acked) xdsAcks.inc({ type: shortType(status.typeUrl) });
    else {
      xdsNacks.inc({ type: shortType(status.typeUrl) });
      this.log.warn(
        { typeUrl: status.typeUrl, generation: status.generation, error: status.errorDetail },
        "proxy rejected a response",
      );
    }
    this.answer = status;
  }

  private receive(bytes: Buffer): void {
    releaseReadBuffers(this.call);
    if (this.closed) return;
    const limits = this.hooks.limits;
    if (this.requestRate.reserve(performance.now()) > 0) {
      this.fail(
        GrpcStatus.RESOURCE_EXHAUSTED,
        `more than ${limits.requestsPerSecond} requests a second (burst ${limits.requestBurst}): the server's limit`,
      );
      return;
    }
    let request: R;
    try {
      request = this.decode(bytes, limits);
    } catch (err) {
      if (err instanceof StreamLimitExceeded) this.fail(err.code, err.message);
      else this.fail(GrpcStatus.INVALID_ARGUMENT, `malformed request: ${(err as Error).message}`);
      return;
    }
    if (this.waiting) {
      this.wait(request);
      return;
    }
    if (!this.node) {
      if (!request.node?.id) {
        this.fail(GrpcStatus.INVALID_ARGUMENT, "the first request on a stream must carry a node with an id");
        return;
      }
      this.authenticateThenHandle(proxyNode(request.node), request);
      return;
    }
    this.handleChecked(request);
  }

  /** Keeps a request until the credentials are checked, within the limits on what may wait. */
  private wait(request: R): void {
    const limits = this.hooks.limits;
    this.namesWaiting += this.namesIn(request);
    if (this.waiting!.length === limits.maxRequestsBeforeIdentified)
      this.failOn(
        tooMany("requests before the credentials were checked", limits.maxRequestsBeforeIdentified),
      );
    else if (this.namesWaiting > limits.maxNames)
      this.failOn(tooMany("resource names before the credentials were checked", limits.maxNames));
    else this.waiting!.push(request);
  }

  private handleChecked(request: R): void {
    this.lastState = undefined;
    try {
      const { typeUrl } = request;
      if (typeUrl === "") {
        this.fail(GrpcStatus.INVALID_ARGUMENT, "type_url is required on an aggregated stream");
        return;
      }
      const limits = this.hooks.limits;
      if (typeUrl.length > limits.maxTypeUrlCharacters)
        throw tooLong("type_url", typeUrl.length, limits.maxTypeUrlCharacters, "characters");
      if (this.types.size === limits.maxTypes && !this.types.has(typeUrl))
        throw tooMany("distinct type URLs", limits.maxTypes);
      this.handle(request);
      this.reportAnswer();
      const state = this.types.get(typeUrl);
      if (state) {
        const held = this.holding(state);
        this.held.replace(state.held, held);
        state.held = held;
      }
    } catch (err) {
      if (err instanceof StreamLimitExceeded) this.failOn(err);
      else this.internalError(err);
    } finally {
      this.lastState = undefined;
    }
  }

  /**
   * Tells the server of the answer the request carried, once the request
   * is handled in full: handling it may have sent nothing more (the proxy
   * is then in sync), and the server's listeners (convergence, policy
   * status) must see the stream as it is after that, not in between.
   */
  private reportAnswer(): void {
    const status = this.answer;
    if (!status) return;
    this.answer = undefined;
    this.noteRan();
    this.hooks.responseStatus(status);
  }

  private failOn(limit: StreamLimitExceeded): void {
    this.fail(limit.code, limit.message);
  }

  /**
   * Checks the proxy's credentials before anything is served: requests that
   * arrive meanwhile wait, in order. Credentials that are not accepted end
   * the stream (see StreamHooks.authenticate); none at all serve the proxy
   * without an identity (no certificates).
   */
  private authenticateThenHandle(claimed: ProxyNode, first: R): void {
    const authenticate = this.hooks.authenticate;
    if (!authenticate) {
      this.identify(claimed);
      this.handleChecked(first);
      return;
    }
    this.waiting = [];
    this.wait(first);
    authenticate(claimed, this.call.metadata, this.call.getPeer()).then(
      (identity) => {
        if (this.closed) return;
        const waiting = this.waiting ?? [];
        this.waiting = undefined;
        this.namesWaiting = 0;
        try {
          this.identify(identity ? { ...claimed, identity } : claimed);
        } catch (err) {
          this.internalError(err);
          return;
        }
        for (const request of waiting) if (!this.closed) this.handleChecked(request);
      },
      (err: unknown) => {
        const { code, details } = authenticationFailure(err);
        xdsStreamsRefused.inc({ code: GrpcStatus[code] });
        this.fail(code, details);
      },
    );
  }

  private identify(proxy: ProxyNode): void {
    // Identified (and counted as connected) only once its snapshot exists.
    this.snapshot = this.hooks.source.snapshotFor(proxy);
    this.node = proxy;
    this.lastState = undefined;
    this.log = this.log.child({ proxy: proxy.id });
    this.hooks.identified(this);
  }

  private internalError(err: unknown): void {
    this.log.error({ err }, "ADS stream failed");
    this.fail(GrpcStatus.INTERNAL, "internal error in the xDS server");
  }

  /** Ends the stream with a non-OK status; grpc-js sends the status of an emitted error. */
  private fail(code: GrpcStatus, details: string): void {
    if (this.closed) return;
    this.log.warn({ code: GrpcStatus[code], details }, "closing ADS stream");
    this.cleanup(details);
    this.call.emit("error", { code, details, name: "AdsError", message: details });
  }

  private end(): void {
    if (this.closed) return;
    this.cleanup("the proxy ended the stream");
    this.call.end();
  }

  private cleanup(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.log.info({ reason }, "ADS stream closed");
    this.hooks.closed(this);
  }
}
