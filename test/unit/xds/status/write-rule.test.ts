import assert from "node:assert/strict";
import type { Condition } from "../../../../src/k8s/conditions.js";
import {
  PENDING_HOLD_IN_BURST_MS,
  PENDING_HOLD_MS,
  PROGRESS_EVERY_MS,
  whenToWrite,
} from "../../../../src/xds/status/write-rule.js";

const at = "2026-12-04T12:00:00Z";
const accepted: Condition = {
  type: "Accepted",
  status: "True",
  reason: "Accepted",
  message: "The policy is valid and governs its target.",
  lastTransitionTime: at,
  observedGeneration: 2,
};
const programmed = (status: "True" | "False", reason: string, message: string): Condition => ({
  type: "Programmed",
  status,
  reason,
  message,
  lastTransitionTime: at,
  observedGeneration: 2,
});
const status = (programmedCondition: Condition, acked: number, conditions = [accepted]) => ({
  observedGeneration: 2,
  conditions: [...conditions, programmedCondition],
  proxies: { targeted: 10, acked, nacked: 0 },
});
const pending = (acked: number) =>
  status(programmed("False", "Pending", `${acked} of 10 proxies run this generation.`), acked);
const allProgrammed = status(
  programmed("True", "Programmed", "All 10 proxies that this policy affects run this generation."),
  10,
);

describe("when the status writer writes a policy's status", () => {
  it("writes nothing when nothing changed", () => {
    assert.deepEqual(whenToWrite(allProgrammed, allProgrammed, { sinceCarriedMs: 0, sinceWrittenMs: 0 }), {
      write: false,
    });
  });

  it("writes progress alone (counts, the Pending message) at most once per PROGRESS_EVERY_MS", () => {
    assert.deepEqual(whenToWrite(pending(3), pending(7), { sinceCarriedMs: 9000, sinceWrittenMs: 1000 }), {
      write: false,
      retryInMs: PROGRESS_EVERY_MS - 1000,
    });
    assert.deepEqual(
      whenToWrite(pending(3), pending(7), { sinceCarriedMs: 9000, sinceWrittenMs: PROGRESS_EVERY_MS }),
      { write: true },
    );
    assert.deepEqual(
      whenToWrite(pending(3), pending(7), { sinceCarriedMs: 9000, sinceWrittenMs: undefined }),
      { write: true },
      "a writer that has not written the policy (a new leader) writes at once",
    );
  });

  it("writes a change of a condition's status or reason at once", () => {
    assert.deepEqual(whenToWrite(pending(9), allProgrammed, { sinceCarriedMs: 10, sinceWrittenMs: 10 }), {
      write: true,
    });
    const nacked = status(programmed("False", "Nacked", "1 of 10 proxies rejected the configuration: x"), 9);
    assert.deepEqual(whenToWrite(allProgrammed, nacked, { sinceCarriedMs: 10, sinceWrittenMs: 10 }), {
      write: true,
    });
  });

  it("holds a new generation's Programmed=Pending for PENDING_HOLD_MS, so a quick ACK makes one write of it", () => {
    const none = {};
    assert.deepEqual(whenToWrite(none, pending(0), { sinceCarriedMs: 300, sinceWrittenMs: undefined }), {
      write: false,
      retryInMs: PENDING_HOLD_MS - 300,
    });
    assert.deepEqual(
      whenToWrite(none, pending(0), { sinceCarriedMs: PENDING_HOLD_MS, sinceWrittenMs: undefined }),
      { write: true },
    );
    assert.deepEqual(whenToWrite(none, allProgrammed, { sinceCarriedMs: 300, sinceWrittenMs: undefined }), {
      write: true,
    });
    // A hold set longer (the status writer's pendingHoldMs) holds past the default.
    const atDefault = { sinceCarriedMs: PENDING_HOLD_MS, sinceWrittenMs: undefined };
    assert.deepEqual(whenToWrite(none, pending(0), atDefault, 60_000), {
      write: false,
      retryInMs: 60_000 - PENDING_HOLD_MS,
    });
  });

  it("holds Pending past PENDING_HOLD_MS while runs follow one another, up to PENDING_HOLD_IN_BURST_MS", () => {
    const none = {};
    const at = (sinceCarriedMs: number, sinceLatestRunMs: number | undefined) => ({
      sinceCarriedMs,
      sinceWrittenMs: undefined,
      sinceLatestRunMs,
    });
    // A run 300 ms ago: asked again when the burst would have settled.
    assert.deepEqual(whenToWrite(none, pending(0), at(2000, 300)), {
      write: false,
      retryInMs: PENDING_HOLD_MS - 300,
    });
    // Or when the hold ends, if that comes first.
    assert.deepEqual(whenToWrite(none, pending(0), at(PENDING_HOLD_IN_BURST_MS - 200, 100)), {
      write: false,
      retryInMs: 200,
    });
    assert.deepEqual(whenToWrite(none, pending(0), at(PENDING_HOLD_IN_BURST_MS, 100)), { write: true });
    // The burst is over (no run for a hold), or not known: Pending is written.
    assert.deepEqual(whenToWrite(none, pending(0), at(2000, PENDING_HOLD_MS)), { write: true });
    assert.deepEqual(whenToWrite(none, pending(0), at(2000, undefined)), { write: true });
    // What is True is written at once, burst or not.
    assert.deepEqual(whenToWrite(none, allProgrammed, at(2000, 10)), { write: true });
  });

  it("treats any other difference as more than progress", () => {
    const rejected: Condition = { ...accepted, status: "False", reason: "Invalid", message: "bad" };
    const withRejected = status(programmed("False", "Pending", "7 of 10 proxies run this generation."), 7, [
      rejected,
    ]);
    assert.deepEqual(whenToWrite(pending(3), withRejected, { sinceCarriedMs: 9000, sinceWrittenMs: 10 }), {
      write: true,
    });
    const workloads = (n: number) => ({ ...allProgrammed, workloads: n });
    assert.deepEqual(whenToWrite(workloads(1), workloads(2), { sinceCarriedMs: 9000, sinceWrittenMs: 10 }), {
      write: true,
    });
  });
});
