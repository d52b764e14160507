/**
 * How the xDS server checks proxies' tokens without leaning on the API
 * server too hard, or letting a refused token through for long.
 */
export interface IdentityLimits {
  /**
   * How long a TokenReview's answer is trusted (never past the token's own
   * expiry). A reconnect storm of a thousand proxies then costs one review
   * per token, not one per stream; a token whose ServiceAccount or Pod is
   * deleted is refused to new streams within this time, and certificates
   * are never issued on a cached answer (see TokenReviews.recheck).
   */
  readonly reviewCacheMs: number;
  /**
   * Answers kept, the oldest forgotten first: each is a SHA-256 of the
   * token and an identity, about 200 bytes, so at most about 2 MB.
   */
  readonly reviewCacheEntries: number;
  /**
   * Refused tokens one peer address may present at once, and then one per
   * refill interval: a proxy with a stale token retries with backoff and
   * gets there, while a peer guessing tokens cannot make the server send
   * the API server a review per attempt. Past it: RESOURCE_EXHAUSTED.
   */
  readonly rejectedTokensBurst: number;
  readonly rejectedTokenRefillMs: number;
  /** Peer addresses whose refusals are tracked, the least recent forgotten first. */
  readonly rejectingPeersTracked: number;
}

export const IDENTITY_LIMITS: IdentityLimits = {
  reviewCacheMs: 30_000,
  reviewCacheEntries: 10_000,
  rejectedTokensBurst: 5,
  rejectedTokenRefillMs: 10_000,
  rejectingPeersTracked: 10_000,
};
