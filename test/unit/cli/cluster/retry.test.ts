import assert from "node:assert/strict";
import { retryingTooManyRequests } from "../../../../src/cli/cluster/retry.js";

describe("retryingTooManyRequests", function () {
  this.timeout(30_000);

  it("reads again after a 429, as kubectl does, and returns the answer", async () => {
    let calls = 0;
    const started = performance.now();
    const answer = await retryingTooManyRequests(async () => {
      calls++;
      if (calls < 3) throw { status: 429, data: { message: "storage is (re)initializing" } };
      return "items";
    });
    assert.equal(answer, "items");
    assert.equal(calls, 3);
    // Timers count from the event loop's cached clock, so a second's wait may measure a little less.
    const waited = performance.now() - started;
    assert.ok(waited >= 1950, `waits a second between tries (waited ${Math.round(waited)} ms)`);
  });

  it("throws anything else at once", async () => {
    let calls = 0;
    const forbidden = { status: 403 };
    await assert.rejects(
      retryingTooManyRequests(async () => {
        calls++;
        throw forbidden;
      }),
      (error) => error === forbidden,
    );
    assert.equal(calls, 1);
  });
});
