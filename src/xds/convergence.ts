import type { ProxyState } from "./server/ads-server.js";

/**
 * Measures convergence: from the moment a cluster change was seen to the
 * moment every connected proxy runs a generation at least as new as the one
 * that carried it. Generations still open when a newer one converges are
 * reported with it.
 */
export class ConvergenceTracker {
  private readonly open = new Map<number, number>();

  constructor(private readonly report: (seconds: number) => void) {}

  started(generation: number, changeSeenAt: number): void {
    this.open.set(generation, changeSeenAt);
  }

  check(proxies: readonly ProxyState[]): void {
    if (this.open.size === 0) return;
    if (proxies.length === 0) {
      this.open.clear(); // nobody to converge
      return;
    }
    const everywhere = Math.min(...proxies.map((p) => p.syncedGeneration ?? -1));
    const now = performance.now();
    for (const [generation, seenAt] of this.open) {
      if (generation > everywhere) continue;
      this.report((now - seenAt) / 1000);
      this.open.delete(generation);
    }
  }
}
