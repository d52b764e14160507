import { backoffDelayMs, DEFAULT_BACKOFF, TokenBucket, type BackoffPolicy } from "./backoff.js";
import { workqueueDepth, workqueueQueueDuration, workqueueRetries } from "../observability/metrics.js";

/** Thrown by a handler when retrying cannot help (an invalid spec): the key is dropped until it changes. */
export class TerminalError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TerminalError";
  }
}

/** What a handler may ask for besides success: to run again after a while (polling an external state). */
export type HandlerResult = void | { requeueAfterMs: number };

export interface WorkQueueOptions {
  /** Workers processing distinct keys at once (default 1). */
  concurrency?: number;
  backoff?: Partial<BackoffPolicy>;
  /** The overall retry rate limit: tokens a second and bucket size (default 10 and 100, as client-go). */
  qps?: number;
  burst?: number;
  /** For tests: the jitter source, and a hook that sees every retry delay. */
  random?: () => number;
  onRetry?: (key: string, delayMs: number, error: unknown) => void;
  /** Called for every failure, terminal or not. Errors are never swallowed. */
  onError?: (key: string, error: unknown, terminal: boolean) => void;
}

/**
 * A controller work queue with client-go's guarantees:
 * - a key added many times before a worker takes it is processed once;
 * - a key is never processed by two workers at once: added while in flight,
 *   it is processed again after;
 * - a failed key is retried after max(per-key exponential backoff, overall
 *   token bucket); success or a TerminalError resets its backoff;
 * - `shutdown()` stops taking keys and waits for the ones in flight.
 */
export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly enqueuedAt = new Map<string, number>();
  private readonly failures = new Map<string, number>();
  private readonly delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private readonly workers: Promise<void>[] = [];
  private readonly backoff: BackoffPolicy;
  private readonly bucket: TokenBucket;
  private shuttingDown = false;

  constructor(
    readonly name: string,
    private readonly handler: (key: string) => Promise<HandlerResult>,
    private readonly options: WorkQueueOptions = {},
  ) {
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.bucket = new TokenBucket(options.qps ?? 10, options.burst ?? 100, Date.now());
  }

  /** Keys waiting for a worker (not counting delayed or in-flight ones). */
  get length(): number {
    return this.queue.length;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    this.enqueuedAt.set(key, Date.now());
    if (this.processing.has(key)) return; // picked up again when the worker finishes
    this.push(key);
  }

  /** Adds the key after `delayMs`; an earlier pending add of the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) return this.add(key);
    const at = Date.now() + delayMs;
    const pending = this.delayed.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, delayMs);
    this.delayed.set(key, { at, timer });
  }

  start(): void {
    const concurrency = this.options.concurrency ?? 1;
    for (let i = 0; i < concurrency; i++) this.workers.push(this.work());
  }

  /** Stops taking keys, cancels pending delayed adds, and resolves once in-flight keys are done. */
  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    for (const { timer } of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    for (const wake of this.waiters.splice(0)) wake(undefined);
    await Promise.all(this.workers);
  }

  private push(key: string): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter(this.take(key));
      return;
    }
    this.queue.push(key);
    workqueueDepth.set({ name: this.name }, this.queue.length);
  }

  private take(key: string): string {
    this.dirty.delete(key);
    this.processing.add(key);
    const since = this.enqueuedAt.get(key);
    if (since !== undefined) workqueueQueueDuration.observe({ name: this.name }, (Date.now() - since) / 1000);
    this.enqueuedAt.delete(key);
    return key;
  }

  private next(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) {
      workqueueDepth.set({ name: this.name }, this.queue.length);
      return Promise.resolve(this.take(key));
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.next();
      if (key === undefined) return;
      try {
        const result = await this.handler(key);
        this.failures.delete(key);
        if (result) this.addAfter(key, result.requeueAfterMs);
      } catch (error) {
        const terminal = error instanceof TerminalError;
        this.options.onError?.(key, error, terminal);
        if (terminal) {
          this.failures.delete(key);
        } else {
          const failures = (this.failures.get(key) ?? 0) + 1;
          this.failures.set(key, failures);
          const random = (this.options.random ?? Math.random)();
          const delayMs = Math.max(
            backoffDelayMs(failures, this.backoff, random),
            this.bucket.reserve(Date.now()),
          );
          workqueueRetries.inc({ name: this.name });
          this.options.onRetry?.(key, delayMs, error);
          this.addAfter(key, delayMs);
        }
      } finally {
        this.processing.delete(key);
        if (this.dirty.has(key) && !this.shuttingDown) this.push(key);
      }
    }
  }
}
