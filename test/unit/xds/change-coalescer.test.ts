import assert from "node:assert/strict";
import { ChangeCoalescer } from "../../../src/xds/change-coalescer.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("ChangeCoalescer", () => {
  it("runs a change after a quiet period at once, not after the window", async () => {
    const runs: number[] = [];
    const coalescer = new ChangeCoalescer(1000, () => runs.push(performance.now()));
    const changedAt = performance.now();
    coalescer.changed();
    await sleep(50);
    assert.equal(runs.length, 1);
    assert.ok(runs[0]! - changedAt < 500, "well inside the 1 s window");
    coalescer.stop();
  });

  it("folds a burst after a run into one run per window, reporting its earliest change", async () => {
    const runs: number[] = [];
    const coalescer = new ChangeCoalescer(200, (firstChangeAt) => runs.push(firstChangeAt));
    coalescer.changed();
    await sleep(20);
    assert.equal(runs.length, 1);
    const burstStart = performance.now();
    for (let i = 0; i < 10; i++) {
      coalescer.changed();
      await sleep(5);
    }
    assert.equal(runs.length, 1, "the burst waits for the window");
    await sleep(300);
    assert.equal(runs.length, 2, "ten changes, one run");
    assert.ok(runs[1]! >= burstStart && runs[1]! < burstStart + 10, "the earliest change of the burst");
    coalescer.stop();
  });

  it("runs nothing after stop", async () => {
    let runs = 0;
    const coalescer = new ChangeCoalescer(10, () => (runs += 1));
    coalescer.changed();
    coalescer.stop();
    await sleep(40);
    assert.equal(runs, 0);
  });
});
