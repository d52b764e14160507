import type { status as GrpcStatus } from "@grpc/grpc-js";
import { type Metadata } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { refuseUnlessOperator, type OperatorAuthentication } from "../identity/operator-access.js";
import { encodeReplicaReport, type ReplicaReport } from "./replica-report.js";

export type ReplicaStatusAnswer =
  { readonly response: Uint8Array } | { readonly code: GrpcStatus; readonly details: string };

export interface ReplicaStatusServiceOptions extends OperatorAuthentication {
  /** This replica's report, as it stands now (LocalProgramming.report). */
  readonly report: () => ReplicaReport;
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
    const refusal = await refuseUnlessOperator(metadata, peer, this.options);
    if (refusal) {
      this.options.logger.warn({ peer, reason: refusal.details }, "refused a replica status request");
      return refusal;
    }
    return { response: encodeReplicaReport(this.options.report()) };
  }
}
