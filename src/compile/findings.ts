import type { PolicySource } from "../ir/source.js";

/** The kinds of policy that compile reads and whose status the xDS server writes. */
export type PolicyKind = "TrafficPolicy" | "PeerAuthentication" | "AuthorizationPolicy";

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

/**
 * A setting of a valid policy that one kind of client does not carry out,
 * though it accepts the configuration (so nothing NACKs, and `Programmed`
 * alone would say all is well). Status shows it while such clients use the
 * policy's Service.
 */
export interface UnsupportedSetting {
  /** The clients that ignore it. */
  readonly clients: "proxyless";
  /** The field, as a path from the object's root (`spec.outlierDetection.consecutive5xxErrors`). */
  readonly field: string;
  /** What those clients do instead, for the status message. */
  readonly message: string;
}

export interface PolicyFindings {
  readonly kind: "TrafficPolicy";
  readonly source: PolicySource;
  /**
   * The host name of the Service whose traffic the policy governs in the
   * model; undefined when it governs none (invalid, conflicted, or its
   * Service does not exist or has no ports).
   */
  readonly service?: string;
  readonly findings: readonly PolicyFinding[];
  readonly unsupported: readonly UnsupportedSetting[];
}
