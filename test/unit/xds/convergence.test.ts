import assert from "node:assert/strict";
import { ConvergenceTracker } from "../../../src/xds/convergence.js";

describe("ConvergenceTracker", () => {
  it("reports a generation once every proxy runs it, with older open ones", () => {
    const reported: number[] = [];
    const tracker = new ConvergenceTracker((seconds) => reported.push(seconds));
    tracker.started(1, performance.now());
    tracker.started(2, performance.now());
    tracker.check(() => -1);
    assert.equal(reported.length, 0);
    tracker.check(() => 1);
    assert.equal(reported.length, 1);
    tracker.check(() => 2);
    assert.equal(reported.length, 2);
    assert.ok(reported.every((s) => s >= 0 && s < 5));
  });

  it("asks the proxies nothing while no generation is open (it runs on every ACK)", () => {
    const tracker = new ConvergenceTracker(() => undefined);
    let asked = 0;
    tracker.check(() => (asked += 1));
    assert.equal(asked, 0);
    tracker.started(3, performance.now());
    tracker.check(() => (asked += 1));
    assert.equal(asked, 1);
  });

  it("closes every open generation when no proxy is connected", () => {
    const reported: number[] = [];
    const tracker = new ConvergenceTracker((seconds) => reported.push(seconds));
    tracker.started(4, performance.now());
    tracker.check(() => undefined);
    tracker.check(() => 10);
    assert.deepEqual(reported, []);
  });
});
