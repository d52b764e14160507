/**
 * Measures convergence: from the moment a cluster change was seen to the
 * moment every connected proxy runs a generation at least as new as the one
 * that carried it, observed at the ACK that brings the last proxy there
 * (each proxy counts from the moment it ran one in full, so a newer push
 * in flight to it does not hold an older generation back). Generations
 * still open when a newer one converges are reported with it.
 */
export class ConvergenceTracker {
  private readonly open = new Map<number, number>();

  constructor(private readonly report: (seconds: number) => void) {}

  started(generation: number, changeSeenAt: number): void {
    this.open.set(generation, changeSeenAt);
  }

  /**
   * Reports the generations every proxy now runs, oldest first (a proxy
   * that runs one runs every older one). `everyProxyRan` (see
   * AdsServer.everyProxyRan) is only asked while some generation is open:
   * this runs on every ACK, and most ACKs come when none is.
   */
  check(everyProxyRan: (generation: number) => boolean | undefined): void {
    if (this.open.size === 0) return;
    const now = performance.now();
    for (const [generation, seenAt] of this.open) {
      const ran = everyProxyRan(generation);
      if (ran === undefined) {
        this.open.clear(); // nobody to converge
        return;
      }
      if (!ran) return;
      this.report((now - seenAt) / 1000);
      this.open.delete(generation);
    }
  }
}
