import { GenericKind, K8s } from "kubernetes-fluent-client";
import { ClusterAccessError } from "./kubeconfig.js";
import { describeReadError } from "./read.js";

/** A request the current user may or may not make, as RBAC names it. */
export interface AccessQuestion {
  readonly verb: string;
  /** "" for the core group. */
  readonly group: string;
  readonly resource: string;
  readonly namespace?: string;
  readonly name?: string;
}

export interface AccessAnswer {
  readonly allowed: boolean;
  /** The authorizer's reason, when it gave one. */
  readonly reason?: string;
}

/**
 * Asks the API server whether the kubeconfig's user may make a request
 * (`kubectl auth can-i`): a SelfSubjectAccessReview, created through
 * kubernetes-fluent-client. Every user may create one (the system:basic-user
 * role), so a refusal to answer is a ClusterAccessError.
 */
export async function canI(question: AccessQuestion): Promise<AccessAnswer> {
  const review = K8s(GenericKind, {
    kindOverride: {
      group: "authorization.k8s.io",
      version: "v1",
      kind: "SelfSubjectAccessReview",
      plural: "selfsubjectaccessreviews",
    },
  });
  try {
    const answer = await review.Create({
      apiVersion: "authorization.k8s.io/v1",
      kind: "SelfSubjectAccessReview",
      spec: {
        resourceAttributes: {
          verb: question.verb,
          group: question.group,
          resource: question.resource,
          ...(question.namespace ? { namespace: question.namespace } : {}),
          ...(question.name ? { name: question.name } : {}),
        },
      },
    });
    const status = (answer as { status?: { allowed?: boolean; reason?: string } }).status;
    return { allowed: status?.allowed === true, ...(status?.reason ? { reason: status.reason } : {}) };
  } catch (error) {
    throw new ClusterAccessError(
      describeReadError(error, "create selfsubjectaccessreviews.authorization.k8s.io"),
    );
  }
}
