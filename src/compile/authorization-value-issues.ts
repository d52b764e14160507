import {
  ASCII,
  HEADER_NAME_MESSAGE,
  HEADER_NAME_PATTERN,
  hasSyntax,
  NAMESPACE,
  valueMessage,
  type ValueSyntax,
} from "../api/v1alpha1/authorization-values.js";
import type { AuthorizationPolicy } from "../api/v1alpha1/generated/authorizationpolicy.js";
import type { ValidationIssue } from "../api/v1alpha1/validate.js";
import { HEADER_KEY } from "./security-models.js";

/**
 * The `when` values admission refuses although compile can model them
 * (authorization-values.ts says why each is refused): a header name that is
 * not a token or a known pseudo-header (the CRD's CEL rule), and, by key,
 * namespaces, principals and SNI outside their characters (the webhook's,
 * as the CRD cannot check values by key within the API server's CEL cost
 * budget). Compile does not leave a policy out for these: one stored before
 * admission refused them keeps doing what it did, so an upgrade never drops
 * an enforced policy (a dropped ALLOW policy could open its workload).
 */
export function authorizationValueIssues(ap: AuthorizationPolicy): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const each = (values: string[] | undefined, field: string, syntax: ValueSyntax) =>
    values?.forEach((v, i) => {
      if (!hasSyntax(syntax, v)) issues.push({ field: `${field}[${i}]`, message: valueMessage(syntax) });
    });
  (ap.spec?.rules ?? []).forEach((rule, r) =>
    (rule.when ?? []).forEach((condition, w) => {
      const field = `spec.rules[${r}].when[${w}]`;
      const header = HEADER_KEY.exec(condition.key)?.[1];
      if (header !== undefined && !new RegExp(HEADER_NAME_PATTERN).test(header))
        issues.push({ field: `${field}.key`, message: HEADER_NAME_MESSAGE });
      const syntax =
        condition.key === "source.namespace"
          ? NAMESPACE
          : condition.key === "source.principal" || condition.key === "connection.sni"
            ? ASCII
            : undefined;
      if (syntax === undefined) return;
      each(condition.values, `${field}.values`, syntax);
      each(condition.notValues, `${field}.notValues`, syntax);
    }),
  );
  return issues;
}
