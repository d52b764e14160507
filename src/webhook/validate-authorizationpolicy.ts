import type { AuthorizationPolicy } from "../api/v1alpha1/generated/authorizationpolicy.js";
import { authorizationPolicyAdmissionIssues } from "../compile/security-issues.js";
import { truncateCodePoints } from "../k8s/truncate.js";
import type { AdmissionDecision, AdmissionRequest } from "./admission.js";

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const issueTexts = (policy: unknown): string[] =>
  isObject(policy)
    ? authorizationPolicyAdmissionIssues(policy as unknown as AuthorizationPolicy).map(
        (i) => `${i.field}: ${i.message}`,
      )
    : [];

/**
 * Refuses an AuthorizationPolicy with what its schema cannot check within
 * the API server's CEL cost budget: `when` values whose syntax depends on the
 * key (a port for destination.port, an address for source.ip, a namespace
 * name for source.namespace...). Without it compile would leave a policy
 * with a port or address that is none out, so that a DENY policy the API
 * server stored would deny nothing. Each issue names its field.
 *
 * An UPDATE is refused only for issues the stored object did not already
 * have, as the API server ratchets its own rules: a policy stored with one
 * (while the webhook was down) must still be editable and deletable.
 */
export function validateAuthorizationPolicy(request: AdmissionRequest): AdmissionDecision {
  const before = new Set(request.operation === "UPDATE" ? issueTexts(request.oldObject) : []);
  const issues = issueTexts(request.object).filter((issue) => !before.has(issue));
  if (issues.length === 0) return { allowed: true };
  return { allowed: false, code: 422, message: truncateCodePoints(issues.join("; "), 4096) };
}
