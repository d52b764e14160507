/**
 * When the pipeline runs for cluster changes. A change after a quiet period
 * runs at once (on the next turn of the event loop, so events that arrived
 * together are folded), so a lone endpoint change is not held back; after a
 * run, changes wait until `windowMs` have passed since it ended and are
 * folded into one run, so a burst (a rollout, a thousand policies applied
 * at once) costs a run per window, not a run per change.
 */
export class ChangeCoalescer {
  private timer: NodeJS.Timeout | undefined;
  private lastRunEndedAt = -Infinity;
  private firstChangeAt: number | undefined;

  constructor(
    private readonly windowMs: number,
    /** Called with when the earliest change folded into this run was seen (performance.now()). */
    private readonly run: (firstChangeAt: number) => void,
  ) {}

  changed(): void {
    const now = performance.now();
    this.firstChangeAt ??= now;
    if (this.timer) return;
    const wait = Math.max(0, this.lastRunEndedAt + this.windowMs - now);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const seenAt = this.firstChangeAt!;
      this.firstChangeAt = undefined;
      try {
        this.run(seenAt);
      } finally {
        this.lastRunEndedAt = performance.now();
      }
    }, wait);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
