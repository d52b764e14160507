import type { TrafficPolicy } from "../api/v1alpha1/generated/trafficpolicy.js";
import type { ValidationIssue } from "../api/v1alpha1/validate.js";
import { re2SyntaxProblem } from "../policy/re2.js";

/**
 * What a TrafficPolicy's schema cannot check and Envoy refuses: a regex that
 * is not RE2 syntax (lookaround, backreferences, `\u` …; CEL's own regexes
 * cannot say). Envoy NACKs the whole route configuration that holds one, so
 * one bad policy would hold back every route change on that port. Fields are
 * named as the API server names them.
 *
 * The validating webhook refuses a policy with issues; compile leaves one
 * out as Accepted=False/Invalid (it got in while the webhook was down, or
 * before it checked), and `skiff simulate` refuses its input.
 */
export function trafficPolicyIssues(policy: TrafficPolicy): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const check = (regex: string | undefined, field: string) => {
    const problem = regex === undefined ? undefined : re2SyntaxProblem(regex);
    if (problem !== undefined) issues.push({ field, message: `invalid RE2 regex: ${problem}` });
  };
  (policy.spec?.http ?? []).forEach((rule, r) =>
    (rule.match ?? []).forEach((m, i) => {
      const at = `spec.http[${r}].match[${i}]`;
      check(m.path?.regex, `${at}.path.regex`);
      (m.headers ?? []).forEach((h, j) => check(h.regex, `${at}.headers[${j}].regex`));
      (m.queryParams ?? []).forEach((q, j) => check(q.regex, `${at}.queryParams[${j}].regex`));
    }),
  );
  return issues;
}
