import { status as GrpcStatus, type Metadata } from "@grpc/grpc-js";
import type { RestClient } from "../../k8s/rest.js";
import type { WorkloadIdentity } from "../cache/snapshot.js";
import {
  AuthenticationError,
  authenticationFailure,
  forbidden,
  uncheckable,
  type AuthenticationStatus,
} from "../server/authentication-error.js";
import { bearerToken } from "./token-review.js";

/**
 * What a caller must be allowed to do, as a SubjectAccessReview asks it, to
 * read the xDS server's admin surface (CSDS): `get` on `meshes.skiff.dev`.
 * The mesh's operators hold it (kubectl get mesh is how they look at the
 * mesh); workloads' ServiceAccounts do not, and they must not read every
 * proxy's configuration.
 */
export const OPERATOR_ACCESS = { group: "skiff.dev", resource: "meshes", verb: "get" } as const;

interface SubjectAccessReview {
  status?: { allowed?: boolean; denied?: boolean; reason?: string; evaluationError?: string };
}

/**
 * Resolves when the API server's authorizer lets the ServiceAccount that
 * `identity` names do OPERATOR_ACCESS, as the authenticator would present
 * it (its user name and the ServiceAccount groups). Rejects with
 * PERMISSION_DENIED when it does not, UNAVAILABLE when it cannot be asked.
 */
export async function checkOperatorAccess(
  rest: Pick<RestClient, "request">,
  identity: WorkloadIdentity,
): Promise<void> {
  const user = `system:serviceaccount:${identity.namespace}:${identity.serviceAccount}`;
  let review: SubjectAccessReview;
  try {
    review = await rest.request<SubjectAccessReview>(
      "POST",
      "/apis/authorization.k8s.io/v1/subjectaccessreviews",
      {
        body: {
          apiVersion: "authorization.k8s.io/v1",
          kind: "SubjectAccessReview",
          spec: {
            user,
            groups: [
              "system:serviceaccounts",
              `system:serviceaccounts:${identity.namespace}`,
              "system:authenticated",
            ],
            resourceAttributes: OPERATOR_ACCESS,
          },
        },
      },
    );
  } catch (error) {
    throw uncheckable(`the API server did not review the access: ${(error as Error).message}`);
  }
  if (review.status?.allowed) return;
  const { group, resource, verb } = OPERATOR_ACCESS;
  throw forbidden(`${user} may not ${verb} ${resource}.${group}, which reading proxy status requires`);
}

/** How long an access decision is reused: as long as a reviewed token is (token-reviews.ts). */
const DECISION_TTL_MS = 30_000;
/** Callers remembered at once; past this the oldest decision is forgotten. */
const MAX_DECISIONS = 1000;

/**
 * checkOperatorAccess, each ServiceAccount's decision (allowed or denied)
 * reused for 30 s and concurrent checks shared, so that a caller repeating
 * requests (a CSDS stream, or a workload knocking again and again) costs the
 * API server one SubjectAccessReview per 30 s. A review that could not be
 * made is not kept.
 */
export function cachedOperatorAccess(
  check: (identity: WorkloadIdentity) => Promise<void>,
  now: () => number = Date.now,
): (identity: WorkloadIdentity) => Promise<void> {
  const decisions = new Map<string, { at: number; decision: Promise<void> }>();
  return (identity) => {
    const key = `${identity.namespace}/${identity.serviceAccount}`;
    const kept = decisions.get(key);
    if (kept && now() - kept.at < DECISION_TTL_MS) return kept.decision;
    decisions.delete(key);
    if (decisions.size >= MAX_DECISIONS) decisions.delete(decisions.keys().next().value!);
    const decision = check(identity);
    decisions.set(key, { at: now(), decision });
    decision.catch((error: unknown) => {
      if (!(error instanceof AuthenticationError && error.code === GrpcStatus.PERMISSION_DENIED))
        decisions.delete(key);
    });
    return decision;
  };
}

/** How an admin method (CSDS, replica status) finds out who calls and whether they may. */
export interface OperatorAuthentication {
  /** Who the bearer token belongs to (a TokenReview); rejects with an AuthenticationError. */
  readonly identify: (token: string, peer: string) => Promise<WorkloadIdentity>;
  /** Resolves when that identity may read proxy status (cachedOperatorAccess). */
  readonly authorize: (identity: WorkloadIdentity) => Promise<void>;
}

/**
 * The first step of every admin method: the caller's bearer token must name
 * a ServiceAccount with OPERATOR_ACCESS. Undefined when it does; otherwise
 * the gRPC status to end the call with, before anything the caller sent is
 * read.
 */
export async function refuseUnlessOperator(
  metadata: Metadata,
  peer: string,
  access: OperatorAuthentication,
): Promise<{ code: AuthenticationStatus; details: string } | undefined> {
  const token = bearerToken(metadata);
  if (token === undefined)
    return {
      code: GrpcStatus.UNAUTHENTICATED,
      details: "no bearer token: send a ServiceAccount token for the skiff audience",
    };
  try {
    await access.authorize(await access.identify(token, peer));
    return undefined;
  } catch (error) {
    return authenticationFailure(error);
  }
}
