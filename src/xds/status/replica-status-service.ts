import { status as GrpcStatus, type Metadata } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { WorkloadIdentity } from "../cache/snapshot.js";
import { bearerToken } from "../identity/token-review.js";
import { authenticationFailure } from "../server/authentication-error.js";
import { encodeReplicaReport, type ReplicaReport } from "./replica-report.js";

export type ReplicaStatusAnswer =
  { readonly response: Uint8Array } | { readonly code: GrpcStatus; readonly details: string };

export interface ReplicaStatusServiceOptions {
  /** This replica's report, as it stands now (LocalProgramming.report). */
  readonly report: () => ReplicaReport;
  /** Who the bearer token belongs to (a TokenReview); rejects with an AuthenticationError. */
  readonly identify: (token: string, peer: string) => Promise<WorkloadIdentity>;
  /** Resolves when that identity may read proxy status (operator-access.ts), as for CSDS. */
  readonly authorize: (identity: WorkloadIdentity) => Promise<void>;
  readonly logger: Logger;
}

/**
 * Answers skiff.xds.v1alpha1.ReplicaStatus/Programming: this replica's
 * proxy count and per-policy programming, for the replica that writes
 * status. Authorized exactly as CSDS is (the same proxy status, summed): a
 * ServiceAccount token the API server accepts, for a ServiceAccount that
 * may `get` Meshes, which the xDS server's own ServiceAccount may. The
 * request body is ignored.
 */
export class ReplicaStatusService {
  constructor(private readonly options: ReplicaStatusServiceOptions) {}

  async answer(metadata: Metadata, peer: string): Promise<ReplicaStatusAnswer> {
    try {
      const token = bearerToken(metadata);
      if (token === undefined)
        return {
          code: GrpcStatus.UNAUTHENTICATED,
          details: "no bearer token: send a ServiceAccount token for the skiff audience",
        };
      await this.options.authorize(await this.options.identify(token, peer));
    } catch (error) {
      const refusal = authenticationFailure(error);
      this.options.logger.warn({ peer, reason: refusal.details }, "refused a replica status request");
      return refusal;
    }
    return { response: encodeReplicaReport(this.options.report()) };
  }
}
