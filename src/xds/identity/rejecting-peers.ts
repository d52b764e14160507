import type { IdentityLimits } from "./limits.js";

interface Budget {
  /** Refusals the peer may still have before it is limited. */
  tokens: number;
  updatedAt: number;
}

/**
 * A token bucket per peer address for refused tokens (see
 * IdentityLimits.rejectedTokensBurst). Only refusals take from it, so a
 * peer that presents valid tokens is never limited; a limited peer gets no
 * review at all, so its attempts cost the API server nothing.
 */
export class RejectingPeers {
  /** In order of last refusal, the least recent first (a Map keeps insertion order). */
  private readonly budgets = new Map<string, Budget>();

  constructor(
    private readonly limits: Pick<
      IdentityLimits,
      "rejectedTokensBurst" | "rejectedTokenRefillMs" | "rejectingPeersTracked"
    >,
    private readonly now: () => number,
  ) {}

  isLimited(peer: string): boolean {
    const budget = this.budgets.get(addressOf(peer));
    return budget !== undefined && this.refilled(budget) < 1;
  }

  refused(peer: string): void {
    const address = addressOf(peer);
    const budget = this.budgets.get(address) ?? {
      tokens: this.limits.rejectedTokensBurst,
      updatedAt: this.now(),
    };
    budget.tokens = this.refilled(budget) - 1;
    budget.updatedAt = this.now();
    this.budgets.delete(address);
    this.budgets.set(address, budget);
    if (this.budgets.size > this.limits.rejectingPeersTracked)
      this.budgets.delete(this.budgets.keys().next().value!);
  }

  private refilled(budget: Budget): number {
    const earned = (this.now() - budget.updatedAt) / this.limits.rejectedTokenRefillMs;
    return Math.min(this.limits.rejectedTokensBurst, budget.tokens + earned);
  }
}

/**
 * The address of a grpc-js peer string, without its port: "10.0.0.9:4000"
 * and "fd00::9:4000" (grpc-js writes IPv6 without brackets) give the
 * host, so every connection of one Pod shares a budget.
 */
export function addressOf(peer: string): string {
  return peer.replace(/^\[?(.*?)\]?:\d+$/, "$1");
}
