import type { SecurityWarning } from "../../compile/security-warnings.js";
import type { Analyzer } from "../analyzer.js";
import type { Detection } from "../finding.js";
import type { AnalysisView } from "../view.js";

/**
 * The AuthorizationPolicy warnings compile gives status (its Accepted
 * message), one code per reason.
 */
function warningsOf(view: AnalysisView, reason: SecurityWarning["reason"]): Detection[] {
  return view.compiled.securityFindings
    .filter((f) => f.kind === "AuthorizationPolicy")
    .flatMap((f) =>
      f.warnings
        .filter((w) => w.reason === reason)
        .map((w) => ({
          object: { kind: "AuthorizationPolicy", namespace: f.source.namespace, name: f.source.name },
          field: `spec.rules[${w.rule}]`,
          message: w.message,
        })),
    );
}

export const authzPrincipalsWithoutMtls: Analyzer = {
  code: "SKF0303",
  severity: "warning",
  name: "PrincipalsWithoutMtls",
  fix: "Put the workloads under mTLS (PERMISSIVE or STRICT), or authorize by ipBlocks instead of identities.",
  analyze: (view) => warningsOf(view, "PrincipalsWithoutMtls"),
};

export const authzNotPrincipalsWithoutMtls: Analyzer = {
  code: "SKF0304",
  severity: "warning",
  name: "NotPrincipalsWithoutMtls",
  fix: 'Put the workloads under mTLS, or require an identity with principals: ["*"] beside the exclusion.',
  analyze: (view) => warningsOf(view, "NotPrincipalsWithoutMtls"),
};

export const authzHttpOnlyOnTcp: Analyzer = {
  code: "SKF0305",
  severity: "warning",
  name: "HttpOnlyFieldsOnTcp",
  fix: "Name the Service port's protocol (http-..., or appProtocol), or drop the HTTP-only fields from rules for TCP ports.",
  analyze: (view) => warningsOf(view, "HttpOnlyFieldsOnTcp"),
};
