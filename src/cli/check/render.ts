import { anyFailed, type CheckGroup, type CheckStatus } from "./result.js";

const MARK: Record<CheckStatus, string> = { ok: "✔", warning: "‼", fail: "✘" };

/** Where each check's entry (with its hint explained) is. */
export const CHECK_DOCS = "https://github.com/skiff-dev/skiff/blob/main/docs/check.md";

/** The report as `linkerd check` prints it: a heading per group, a mark per check, the hint under a problem. */
export function renderText(groups: readonly CheckGroup[]): string {
  const lines: string[] = [];
  for (const group of groups) {
    lines.push(group.name, "-".repeat(group.name.length));
    for (const check of group.checks) {
      lines.push(`${MARK[check.status]} ${check.description}`);
      if (check.detail) lines.push(`    ${check.detail}`);
      if (check.status === "ok") continue;
      if (check.hint) lines.push(`    hint: ${check.hint}`);
      lines.push(`    see ${CHECK_DOCS}#${check.id} for more`);
    }
    lines.push("");
  }
  lines.push(`Status check results are ${anyFailed(groups) ? MARK.fail : MARK.ok}`);
  return lines.join("\n");
}

export function renderJson(groups: readonly CheckGroup[]): string {
  return JSON.stringify({ success: !anyFailed(groups), groups }, null, 2);
}
