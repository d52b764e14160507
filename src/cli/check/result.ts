/** ✔ passed, ‼ passed with a warning (the exit status stays 0), ✘ failed. */
export type CheckStatus = "ok" | "warning" | "fail";

/** One line of `skiff check`. */
export interface CheckResult {
  /** The anchor of the check's entry in docs/check.md, where its hint is explained. */
  readonly id: string;
  /** What was checked, said as a fact that holds when it passes. */
  readonly description: string;
  readonly status: CheckStatus;
  /** What was found, when it is worth a line of its own (why it failed, days to expiry...). */
  readonly detail?: string;
  /** What to do about a warning or failure. */
  readonly hint?: string;
}

/** A heading and its lines, as `linkerd check` groups them. */
export interface CheckGroup {
  readonly name: string;
  readonly checks: readonly CheckResult[];
}

export const passed = (id: string, description: string, detail?: string): CheckResult => ({
  id,
  description,
  status: "ok",
  ...(detail ? { detail } : {}),
});

export const warned = (id: string, description: string, detail: string, hint: string): CheckResult => ({
  id,
  description,
  status: "warning",
  detail,
  hint,
});

export const failed = (id: string, description: string, detail: string, hint: string): CheckResult => ({
  id,
  description,
  status: "fail",
  detail,
  hint,
});

/** Whether any check failed; warnings do not count. */
export function anyFailed(groups: readonly CheckGroup[]): boolean {
  return groups.some((group) => group.checks.some((check) => check.status === "fail"));
}
