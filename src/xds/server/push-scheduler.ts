/** What the scheduler pushes: a stream, which brings its proxy up to the newest snapshot when pushed. */
export interface Pushable {
  push(): void;
}

/** How long one turn of the event loop may spend pushing before it yields (ms). */
const PUSH_SLICE_MS = 5;

/**
 * Spreads the fan-out of a generation over turns of the event loop: streams
 * are pushed in order, in slices of at most about PUSH_SLICE_MS, with a
 * setImmediate between slices, so that keepalives, ACKs and new streams are
 * served during a push to thousands of proxies instead of after it (issue 18,
 * B12: pushing 1000 proxies in one turn held the loop for up to 2 s).
 *
 * A stream is due at most once: a stream that a newer generation finds still
 * waiting keeps its place and is pushed once, from the newest snapshot
 * (a push always reads the source's latest), so a proxy that is behind is
 * never sent the generations in between.
 */
export class PushScheduler {
  /** Streams waiting for a push, in the order they became due (a Set keeps insertion order). */
  private readonly due = new Set<Pushable>();
  private running = false;

  constructor(
    private readonly sliceMs = PUSH_SLICE_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Makes the streams due; they are pushed in later turns, never inside this call. */
  schedule(streams: Iterable<Pushable>): void {
    for (const stream of streams) this.due.add(stream);
    if (this.running || this.due.size === 0) return;
    this.running = true;
    setImmediate(() => this.run());
  }

  /** A closed stream is not pushed. */
  forget(stream: Pushable): void {
    this.due.delete(stream);
  }

  /** Streams still waiting (for tests and the server's stop). */
  get waiting(): number {
    return this.due.size;
  }

  clear(): void {
    this.due.clear();
  }

  private run(): void {
    const deadline = this.now() + this.sliceMs;
    // At least one stream per turn, however long it takes, so that a push always progresses.
    for (const stream of this.due) {
      this.due.delete(stream);
      stream.push();
      if (this.now() >= deadline) break;
    }
    if (this.due.size > 0) setImmediate(() => this.run());
    else this.running = false;
  }
}
