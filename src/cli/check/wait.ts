import { anyFailed, type CheckGroup } from "./result.js";

/** The first pause between passes, and the longest. */
const FIRST_PAUSE_MS = 250;
const LONGEST_PAUSE_MS = 5000;

/**
 * Runs the checks again while any fails, until `waitMs` has passed, as
 * linkerd check --wait does, and returns the last pass. The next pass starts
 * 250 ms after the last one ended, doubling to 5 s, so what becomes ready is
 * seen soon without hammering the API server. With `waitMs` 0 it runs once.
 */
export async function untilPassedOr(
  waitMs: number,
  pass: () => Promise<CheckGroup[]>,
  options: {
    /** Told before each pause which checks failed, so the user sees what is waited for. */
    readonly onRetry?: (failing: readonly string[]) => void;
    readonly now?: () => number;
  } = {},
): Promise<CheckGroup[]> {
  const now = options.now ?? Date.now;
  const deadline = now() + waitMs;
  let pause = FIRST_PAUSE_MS;
  for (;;) {
    const groups = await pass();
    if (!anyFailed(groups) || now() + pause > deadline) return groups;
    options.onRetry?.(failingChecks(groups));
    await new Promise((resolve) => setTimeout(resolve, pause));
    pause = Math.min(pause * 2, LONGEST_PAUSE_MS);
  }
}

function failingChecks(groups: readonly CheckGroup[]): string[] {
  return groups.flatMap((group) => group.checks.filter((c) => c.status === "fail").map((c) => c.description));
}
