import assert from "node:assert/strict";
import type { CheckGroup } from "../../../../src/cli/check/result.js";
import { untilPassedOr } from "../../../../src/cli/check/wait.js";

const outcome = (status: "ok" | "fail"): CheckGroup[] => [
  { name: "g", checks: [{ id: "x", description: "x", status }] },
];

describe("skiff check --wait", () => {
  it("runs once without a wait, even when a check fails", async () => {
    let passes = 0;
    const groups = await untilPassedOr(0, async () => (passes++, outcome("fail")));
    assert.equal(passes, 1);
    assert.equal(groups[0]!.checks[0]!.status, "fail");
  });

  it("runs again while a check fails, and returns the first pass in which none does", async () => {
    let passes = 0;
    const told: string[][] = [];
    const groups = await untilPassedOr(60_000, async () => outcome(++passes < 3 ? "fail" : "ok"), {
      onRetry: (failing) => told.push([...failing]),
    });
    assert.equal(passes, 3);
    assert.deepEqual(told, [["x"], ["x"]]);
    assert.equal(groups[0]!.checks[0]!.status, "ok");
  });

  it("gives up with the last failing pass once the next would start after the deadline", async () => {
    let clock = 0;
    let passes = 0;
    // Each pass takes 1 s of the fake clock; the pauses (250, 500, 1000 ms) are real but short.
    const groups = await untilPassedOr(5000, async () => ((clock += 1000), passes++, outcome("fail")), {
      now: () => clock,
    });
    assert.equal(groups[0]!.checks[0]!.status, "fail");
    assert.equal(passes, 4);
  });
});
