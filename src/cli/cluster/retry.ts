import { setTimeout as sleep } from "node:timers/promises";

/** client-go's limit on retries of a 429 (rest.Request's maxRetries). */
const MAX_ATTEMPTS = 10;
/** The API server answers 429 with `Retry-After: 1`; fluent-client's errors do not carry headers, so this is it. */
const RETRY_AFTER_MS = 1000;

/**
 * Runs a read again while the API server answers 429 Too Many Requests, as
 * kubectl (client-go) does: API priority and fairness sheds load with it, and
 * a freshly started or restarted API server answers lists with "storage is
 * (re)initializing" until its watch cache is filled. Anything else is thrown
 * at once.
 */
export async function retryingTooManyRequests<T>(read: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (error) {
      const status =
        typeof error === "object" && error !== null ? (error as { status?: unknown }).status : undefined;
      if (status !== 429 || attempt >= MAX_ATTEMPTS) throw error;
      await sleep(RETRY_AFTER_MS);
    }
  }
}
