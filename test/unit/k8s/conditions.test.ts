import assert from "node:assert/strict";
import {
  isConditionTrue,
  kubernetesTime,
  ownedConditions,
  sameConditions,
  setCondition,
  setConditions,
  type Condition,
} from "../../../src/k8s/conditions.js";

const t0 = new Date("2026-11-25T10:00:00.123Z");
const t1 = new Date("2026-11-25T11:30:00.999Z");

describe("conditions", () => {
  it("formats times as metav1.Time does: seconds, UTC", () => {
    assert.equal(kubernetesTime(t0), "2026-11-25T10:00:00Z");
  });

  it("adds a condition with the current time as its transition time", () => {
    const out = setCondition(
      [],
      { type: "Ready", status: "True", reason: "Ready", message: "ok", observedGeneration: 1 },
      t0,
    );
    assert.deepEqual(out, [
      {
        type: "Ready",
        status: "True",
        reason: "Ready",
        message: "ok",
        observedGeneration: 1,
        lastTransitionTime: "2026-11-25T10:00:00Z",
      },
    ]);
  });

  it("keeps lastTransitionTime when only the reason, message or generation change", () => {
    const first = setCondition(
      [],
      { type: "Ready", status: "False", reason: "Pending", message: "a", observedGeneration: 1 },
      t0,
    );
    const second = setCondition(
      first,
      { type: "Ready", status: "False", reason: "Waiting", message: "b", observedGeneration: 2 },
      t1,
    );
    assert.equal(second[0]!.lastTransitionTime, "2026-11-25T10:00:00Z");
    assert.equal(second[0]!.reason, "Waiting");
    assert.equal(second[0]!.observedGeneration, 2);
  });

  it("moves lastTransitionTime when the status flips", () => {
    const first = setCondition([], { type: "Ready", status: "False", reason: "Pending", message: "" }, t0);
    const second = setCondition(first, { type: "Ready", status: "True", reason: "Ready", message: "" }, t1);
    assert.equal(second[0]!.lastTransitionTime, "2026-11-25T11:30:00Z");
  });

  it("replaces in place, keeping the order and the other types", () => {
    let list: Condition[] = setConditions(
      [],
      [
        { type: "Accepted", status: "True", reason: "Accepted", message: "" },
        { type: "Programmed", status: "False", reason: "Pending", message: "" },
      ],
      t0,
    );
    list = setCondition(
      list,
      { type: "Accepted", status: "False", reason: "Conflicted", message: "older policy wins" },
      t1,
    );
    assert.deepEqual(
      list.map((c) => `${c.type}=${c.status}`),
      ["Accepted=False", "Programmed=False"],
    );
    assert.equal(isConditionTrue(list, "Accepted"), false);
  });

  it("sends only the conditions a controller owns", () => {
    const list = setConditions(
      [],
      [
        { type: "Accepted", status: "True", reason: "Accepted", message: "" },
        { type: "Programmed", status: "True", reason: "Programmed", message: "" },
      ],
      t0,
    );
    assert.deepEqual(
      ownedConditions(list, ["Programmed"]).map((c) => c.type),
      ["Programmed"],
    );
  });

  it("compares condition sets regardless of order, so unchanged status is not rewritten", () => {
    const a = setConditions(
      [],
      [
        { type: "A", status: "True", reason: "R", message: "" },
        { type: "B", status: "True", reason: "R", message: "" },
      ],
      t0,
    );
    assert.ok(sameConditions(a, [...a].reverse()));
    assert.ok(
      !sameConditions(a, setCondition(a, { type: "A", status: "True", reason: "Other", message: "" }, t0)),
    );
    assert.ok(sameConditions(undefined, []));
  });
});
