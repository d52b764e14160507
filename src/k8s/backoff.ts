/**
 * Retry delays for the work queue, as pure functions of their inputs, in the
 * manner of client-go's default controller rate limiter: the larger of a
 * per-key exponential backoff and an overall token bucket.
 */

export interface BackoffPolicy {
  /** The first retry's delay (default 5 ms). */
  baseDelayMs: number;
  /** The cap (default 1000 s). */
  maxDelayMs: number;
  /** Spread each delay by up to ± this fraction, so retries of many keys do not align (default 0.1). */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseDelayMs: 5, maxDelayMs: 1_000_000, jitter: 0.1 };

/**
 * The delay before retry number `failures` (1 for the first retry):
 * base·2^(failures-1), capped, then jittered by `random` in [0, 1).
 */
export function backoffDelayMs(failures: number, policy: BackoffPolicy, random: number): number {
  const exponent = Math.max(0, failures - 1);
  // 2^exponent overflows to Infinity long after it passes any sane cap.
  const raw = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(exponent, 1024));
  const jittered = raw * (1 + policy.jitter * (2 * random - 1));
  return Math.min(policy.maxDelayMs, Math.max(0, jittered));
}

/**
 * A token bucket: `qps` tokens a second, at most `burst` saved. Each retry
 * takes a token; with none left it waits for the next. This bounds the retry
 * rate of the whole queue when many keys fail at once.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly qps: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.updatedAt = now;
  }

  /** Takes a token and returns how long (ms) the caller must wait for it. */
  reserve(now: number): number {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.qps);
    this.updatedAt = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.qps) * 1000;
  }
}
