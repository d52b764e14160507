import assert from "node:assert/strict";
import type { Condition } from "../../../src/k8s/conditions.js";
import { statusChanged } from "../../../src/k8s/status.js";

const condition = (type: string, message = "fine"): Condition => ({
  type,
  status: "True",
  reason: type,
  message,
  lastTransitionTime: "2026-12-04T10:00:00Z",
  observedGeneration: 2,
});

describe("statusChanged: write status only when it changed", () => {
  const current = {
    observedGeneration: 2,
    conditions: [condition("Accepted"), condition("Programmed")],
    workloads: 3,
  };

  it("is false for the same status, whatever the order of its conditions", () => {
    assert.equal(statusChanged(current, structuredClone(current)), false);
    assert.equal(
      statusChanged(current, { ...current, conditions: [...current.conditions].reverse() }),
      false,
    );
  });

  it("is true when a condition says something else", () => {
    assert.equal(
      statusChanged(current, {
        ...current,
        conditions: [condition("Accepted"), condition("Programmed", "2 of 3")],
      }),
      true,
    );
  });

  it("is true when any other field changed, and for an object without status", () => {
    const more = { ...current, workloads: 4 };
    assert.equal(statusChanged(current, more), true);
    assert.equal(statusChanged(undefined, current), true);
  });
});
