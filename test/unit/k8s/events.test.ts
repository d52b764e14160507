import assert from "node:assert/strict";
import type { Condition } from "../../../src/k8s/conditions.js";
import { conditionTransitionEvents } from "../../../src/k8s/events.js";

const c = (type: string, status: Condition["status"], reason: string): Condition => ({
  type,
  status,
  reason,
  message: `${type} says ${reason}`,
  lastTransitionTime: "2026-11-25T00:00:00Z",
});

describe("events for condition transitions", () => {
  it("records flips and new conditions, Warning when not True, and nothing for a steady state", () => {
    const previous = [
      c("Ready", "True", "Ready"),
      c("CertificateAuthorityReady", "True", "CertificateAuthorityReady"),
    ];
    const next = [
      c("Ready", "False", "KeyMismatch"),
      c("CertificateAuthorityReady", "True", "CertificateAuthorityReady"),
      c("InjectionConfigured", "True", "Configured"),
    ];
    assert.deepEqual(conditionTransitionEvents(previous, next), [
      {
        type: "Warning",
        reason: "KeyMismatch",
        action: "Reconcile",
        note: "Ready=False: Ready says KeyMismatch",
      },
      {
        type: "Normal",
        reason: "Configured",
        action: "Reconcile",
        note: "InjectionConfigured=True: InjectionConfigured says Configured",
      },
    ]);
    assert.deepEqual(conditionTransitionEvents(next, next), []);
  });

  it("keeps a note within the API server's 1024 bytes, and never halves a character", () => {
    const long = { ...c("Programmed", "False", "Nacked"), message: "🙂".repeat(400) };
    const [event] = conditionTransitionEvents([], [long]);
    assert.ok(Buffer.byteLength(event!.note) <= 1024, `${Buffer.byteLength(event!.note)} bytes`);
    assert.equal(event!.note, "Programmed=False: " + "🙂".repeat(251));
  });
});
