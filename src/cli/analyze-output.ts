import type { Finding } from "../analyze/finding.js";

/** One line per finding, then a summary: `error SKF0101 TrafficPolicy/bookinfo/reviews spec.targetRef.name: ...`. */
export function findingsText(findings: readonly Finding[]): string {
  const lines = findings.map((f) => {
    const object = [f.object.kind, f.object.namespace, f.object.name].filter((part) => part).join("/");
    return `${f.severity.padEnd(7)} ${f.code} ${object} ${f.field}: ${f.message}`;
  });
  const { errors, warnings } = counts(findings);
  lines.push(
    findings.length === 0
      ? "No problems found."
      : `${errors} error${errors === 1 ? "" : "s"}, ${warnings} warning${warnings === 1 ? "" : "s"} (fixes: docs/analyze.md, or -o json)`,
  );
  return lines.join("\n");
}

/** `-o json`: the findings and their counts. */
export function findingsJson(findings: readonly Finding[]): string {
  return JSON.stringify({ findings, summary: counts(findings) }, null, 2);
}

function counts(findings: readonly Finding[]): { errors: number; warnings: number } {
  const errors = findings.filter((f) => f.severity === "error").length;
  return { errors, warnings: findings.length - errors };
}
