import type { PolicyKind } from "../../compile/findings.js";
import type { PolicySource } from "../../ir/source.js";
import type { Programming } from "./programming.js";
import type { ReplicaReport } from "./replica-report.js";

/** What the status writer heard from one other xDS replica: its report, or why there is none. */
export type PeerAnswer =
  | { readonly replica: string; readonly report: ReplicaReport }
  | { readonly replica: string; readonly unreachable: string };

/**
 * A policy's programming over all replicas: this replica's counts plus
 * those of every peer that counted the same policy generation. A peer
 * that did not answer is `unheard`; one that has not compiled this
 * generation (an older one, or none: it has not seen the policy yet) is
 * `behind`, since its proxies cannot run it yet; and one that compiled a
 * newer generation than the writer is `behind` too, since the writer's
 * generation is the one whose status is being written and the next write
 * covers the newer one. The NACK message shown is this replica's if it has
 * one, else the first peer's. Pure.
 */
export function mergedProgramming(
  kind: PolicyKind,
  source: PolicySource,
  local: Programming,
  peers: readonly PeerAnswer[],
): Programming {
  let { targeted, proxyless, acked, nacked, lastNackMessage } = local;
  const unheard: { replica: string; reason: string }[] = [];
  const behind: string[] = [];
  for (const peer of peers) {
    if ("unreachable" in peer) {
      unheard.push({ replica: peer.replica, reason: peer.unreachable });
      continue;
    }
    const entry = peer.report.policies.find(
      (p) => p.kind === kind && p.namespace === source.namespace && p.name === source.name,
    );
    if (entry?.generation !== source.generation) {
      behind.push(peer.replica);
      continue;
    }
    const p = entry.programming;
    targeted += p.targeted;
    proxyless += p.proxyless;
    acked += p.acked;
    nacked += p.nacked;
    if (!lastNackMessage && p.nacked > 0) lastNackMessage = p.lastNackMessage;
  }
  return {
    targeted,
    proxyless,
    acked,
    nacked,
    lastNackMessage,
    ...(unheard.length > 0 ? { unheard } : {}),
    ...(behind.length > 0 ? { behind } : {}),
  };
}

/**
 * The Mesh's connectedProxies: this replica's and every peer's that
 * answered. A peer that did not answer is left out (its count is not
 * known); a proxy that just moved between replicas may count on both
 * for a moment. Pure.
 */
export function mergedConnectedProxies(local: number, peers: readonly PeerAnswer[]): number {
  return peers.reduce((sum, peer) => sum + ("report" in peer ? peer.report.connectedProxies : 0), local);
}
