import type { PolicyFinding } from "../../compile/findings.js";
import type { Detection } from "../finding.js";
import type { AnalysisView } from "../view.js";

type Kind = "TrafficPolicy" | "PeerAuthentication" | "AuthorizationPolicy";

/**
 * The policies whose compile finding has this reason, as Detections: the
 * status conditions and the webhook's warnings say the same, from the same
 * function, so there is one home per decision.
 */
export function compileFindings(
  view: AnalysisView,
  kind: Kind,
  reason: string,
  field: (finding: PolicyFinding) => string,
): Detection[] {
  const all: {
    kind: Kind;
    source: { namespace: string; name: string };
    findings: readonly PolicyFinding[];
  }[] = [...view.compiled.findings, ...view.compiled.securityFindings];
  return all
    .filter((f) => f.kind === kind)
    .flatMap((f) =>
      f.findings
        .filter((finding) => finding.status === "False" && finding.reason === reason)
        .map((finding) => {
          const at = field(finding);
          // An Invalid message starts with the field, which the finding already names.
          const message = finding.message.startsWith(`${at}: `)
            ? finding.message.slice(at.length + 2)
            : finding.message;
          return { object: { kind, namespace: f.source.namespace, name: f.source.name }, field: at, message };
        }),
    );
}

/** The first field an Invalid finding's message names (`spec.http[0].match[0].path.regex: ...`), else `spec`. */
export function invalidField(finding: PolicyFinding): string {
  const field = /^(spec[^:\s]*):/.exec(finding.message)?.[1];
  return field ?? "spec";
}
