import type { PolicyKind } from "../../compile/findings.js";
import type { Programming } from "./programming.js";

/**
 * What one xDS replica tells the replica that writes status, in answer to
 * skiff.xds.v1alpha1.ReplicaStatus/Programming: how many proxies it
 * serves, and for each policy of its latest pipeline run the policy
 * generation it compiled and how its own proxies have taken it. The
 * generation matters because each replica runs its own pipeline: its
 * counts are about the policy generation it saw, which may not be the one
 * the writer is writing status for. Sent as JSON: the message is Skiff's
 * own, between replicas of the same version.
 */
export interface ReplicaReport {
  readonly connectedProxies: number;
  readonly policies: readonly PolicyProgramming[];
}

export interface PolicyProgramming {
  readonly kind: PolicyKind;
  readonly namespace: string;
  readonly name: string;
  readonly generation: number;
  readonly programming: Programming;
}

/** A replica report as bytes. Pure. */
export function encodeReplicaReport(report: ReplicaReport): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(report));
}

const POLICY_KINDS = new Set(["TrafficPolicy", "PeerAuthentication", "AuthorizationPolicy"]);
const COUNTS = ["targeted", "proxyless", "acked", "nacked"] as const;

/** The report in `bytes`, or why it is not one. Pure. */
export function decodeReplicaReport(bytes: Uint8Array): ReplicaReport | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    return { error: `the answer is not JSON: ${(error as Error).message}` };
  }
  const report = value as Partial<ReplicaReport> | null;
  if (!isCount(report?.connectedProxies) || !Array.isArray(report.policies))
    return { error: "the answer is not a replica report" };
  for (const policy of report.policies as Partial<PolicyProgramming>[]) {
    const p = policy.programming as Partial<Programming> | undefined;
    const valid =
      POLICY_KINDS.has(policy.kind ?? "") &&
      typeof policy.namespace === "string" &&
      typeof policy.name === "string" &&
      isCount(policy.generation) &&
      p !== undefined &&
      COUNTS.every((c) => isCount(p[c])) &&
      typeof p.lastNackMessage === "string";
    if (!valid) return { error: `the answer has a malformed policy entry: ${JSON.stringify(policy)}` };
  }
  return report as ReplicaReport;
}

const isCount = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n) && n >= 0;
