import { createHash } from "node:crypto";
import type { WorkloadIdentity } from "../cache/snapshot.js";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { AuthenticationError } from "../server/authentication-error.js";
import { IDENTITY_LIMITS, type IdentityLimits } from "./limits.js";
import { addressOf, RejectingPeers } from "./rejecting-peers.js";

/** What the API server said of a token: an identity, or why not. */
type Answer = { readonly identity: WorkloadIdentity } | { readonly refusal: AuthenticationError };

interface CachedAnswer {
  readonly answer: Answer;
  readonly expiresAt: number;
}

export interface TokenReviewsOptions {
  readonly limits?: Partial<IdentityLimits>;
  /** The clock, in ms (tests). */
  readonly now?: () => number;
}

/**
 * TokenReviews with a short memory (see IdentityLimits): answers, accepted
 * or refused, are kept briefly by the token's SHA-256, concurrent reviews
 * of one token are shared, and a peer that keeps presenting refused tokens
 * is turned away before the API server is asked. A review that could not
 * be made (UNAVAILABLE) is never kept, nor counted against the peer.
 */
export class TokenReviews {
  private readonly limits: IdentityLimits;
  private readonly now: () => number;
  /** In order of insertion: the oldest is forgotten first. */
  private readonly answers = new Map<string, CachedAnswer>();
  private readonly inFlight = new Map<string, Promise<Answer>>();
  private readonly peers: RejectingPeers;

  constructor(
    private readonly review: (token: string) => Promise<WorkloadIdentity>,
    options: TokenReviewsOptions = {},
  ) {
    this.limits = { ...IDENTITY_LIMITS, ...options.limits };
    this.now = options.now ?? Date.now;
    this.peers = new RejectingPeers(this.limits, this.now);
  }

  get cachedAnswers(): number {
    return this.answers.size;
  }

  /**
   * The token's identity, from a recent answer if there is one. With the
   * peer that presented it, refusals count against that peer, and a peer
   * past its budget is refused with RESOURCE_EXHAUSTED unasked.
   */
  async identify(token: string, peer?: string): Promise<WorkloadIdentity> {
    const key = keyOf(token);
    const cached = this.answers.get(key);
    let answer: Answer;
    if (cached && cached.expiresAt > this.now()) {
      answer = cached.answer;
    } else {
      if (peer !== undefined && this.peers.isLimited(peer))
        throw new AuthenticationError(
          GrpcStatus.RESOURCE_EXHAUSTED,
          `too many rejected tokens from ${addressOf(peer)}; retry later`,
        );
      answer = await this.reviewOnce(key, token);
    }
    if ("identity" in answer) return answer.identity;
    if (peer !== undefined) this.peers.refused(peer);
    throw answer.refusal;
  }

  /**
   * The token's identity from a review made now, as a certificate request
   * is answered: like identify() for refusals (a recent refusal is reused,
   * refusals count against the peer, a peer past its budget is turned away
   * unasked), but an acceptance is never taken from the cache.
   */
  async identifyNow(token: string, peer: string): Promise<WorkloadIdentity> {
    const key = keyOf(token);
    const cached = this.answers.get(key);
    let answer: Answer;
    if (cached && cached.expiresAt > this.now() && "refusal" in cached.answer) {
      answer = cached.answer;
    } else {
      if (this.peers.isLimited(peer))
        throw new AuthenticationError(
          GrpcStatus.RESOURCE_EXHAUSTED,
          `too many rejected tokens from ${addressOf(peer)}; retry later`,
        );
      answer = await this.reviewOnce(key, token, true);
    }
    if ("identity" in answer) return answer.identity;
    this.peers.refused(peer);
    throw answer.refusal;
  }

  /**
   * The token's identity from a review made now, whatever the cache holds:
   * what a certificate is issued on. Refusals count against no peer (a
   * long-lived stream's token may simply have expired).
   */
  async recheck(token: string): Promise<WorkloadIdentity> {
    const answer = await this.reviewOnce(keyOf(token), token, true);
    if ("identity" in answer) return answer.identity;
    throw answer.refusal;
  }

  private reviewOnce(key: string, token: string, fresh = false): Promise<Answer> {
    let pending = fresh ? undefined : this.inFlight.get(key);
    if (!pending) {
      pending = this.ask(key, token);
      if (!fresh) {
        this.inFlight.set(key, pending);
        void pending.finally(() => this.inFlight.delete(key)).catch(() => {});
      }
    }
    return pending;
  }

  private async ask(key: string, token: string): Promise<Answer> {
    let answer: Answer;
    try {
      answer = { identity: await this.review(token) };
    } catch (error) {
      if (!(error instanceof AuthenticationError) || error.code !== GrpcStatus.UNAUTHENTICATED) throw error;
      answer = { refusal: error };
    }
    this.remember(key, answer, expiryOf(token));
    return answer;
  }

  private remember(key: string, answer: Answer, tokenExpiresAt: number | undefined): void {
    const expiresAt = Math.min(this.now() + this.limits.reviewCacheMs, tokenExpiresAt ?? Infinity);
    this.answers.delete(key);
    this.answers.set(key, { answer, expiresAt });
    while (this.answers.size > this.limits.reviewCacheEntries)
      this.answers.delete(this.answers.keys().next().value!);
  }
}

const keyOf = (token: string) => createHash("sha256").update(token).digest("base64");

/**
 * The `exp` claim of a JWT, in ms, read without verifying anything (the
 * API server verified it): only so that no answer outlives its token.
 */
function expiryOf(token: string): number | undefined {
  const payload = token.split(".")[1];
  if (!payload) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { exp?: unknown }).exp;
    return typeof exp === "number" ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
