import type { PolicySource } from "../ir/model.js";

/**
 * What compile learned about one policy, for its status. Each finding is one
 * condition the policy's controller owns; compile decides the values so that
 * `skiff analyze`, the validating webhook and the status writer agree.
 */
export interface PolicyFinding {
  readonly type: "Accepted" | "ResolvedRefs";
  readonly status: "True" | "False";
  readonly reason: string;
  readonly message: string;
}

export interface PolicyFindings {
  readonly kind: "TrafficPolicy";
  readonly source: PolicySource;
  readonly findings: readonly PolicyFinding[];
}
