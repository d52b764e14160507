import {
  ASCII,
  HEADER_NAME_MESSAGE,
  HEADER_NAME_PATTERN,
  hasSyntax,
  IP_MESSAGE,
  NAMESPACE,
  valueMessage,
  type ValueSyntax,
} from "../api/v1alpha1/authorization-values.js";
import type { AuthorizationPolicy } from "../api/v1alpha1/generated/authorizationpolicy.js";
import type { ValidationIssue } from "../api/v1alpha1/validate.js";
import { parseIp } from "../net/ip.js";
import { HEADER_KEY } from "./security-models.js";

const IP_KEYS = ["source.ip", "remote.ip", "destination.ip"];

/** An address in ::ffff:0:0/96, which CEL's isIP and isCIDR refuse (ipBlocks), here for `when`. */
function ipv4Mapped(value: string): boolean {
  const ip = parseIp(value.split("/")[0] ?? "");
  return ip?.family === "ipv6" && ip.value >> 32n === 0xffffn;
}

/**
 * The `when` values admission refuses although compile can model them
 * (authorization-values.ts says why each is refused): a header name that is
 * not a token or a known pseudo-header (the CRD's CEL rule), and, by key,
 * namespaces, principals and SNI outside their characters and IPv4-mapped
 * addresses (the webhook's, as the CRD cannot check values by key within the
 * API server's CEL cost budget). Compile does not leave a policy out for these: one stored before
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
      if (IP_KEYS.includes(condition.key))
        for (const list of ["values", "notValues"] as const)
          condition[list]?.forEach((v, i) => {
            if (ipv4Mapped(v)) issues.push({ field: `${field}.${list}[${i}]`, message: IP_MESSAGE });
          });
      if (syntax === undefined) return;
      each(condition.values, `${field}.values`, syntax);
      each(condition.notValues, `${field}.notValues`, syntax);
    }),
  );
  return issues;
}
