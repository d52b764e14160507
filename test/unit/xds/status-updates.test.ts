import assert from "node:assert/strict";
import type { KubernetesObject } from "@kubernetes/client-node";
import { onlyStatusChanged } from "../../../src/xds/status-updates.js";

const policy = (generation: number | undefined, extra: Record<string, unknown> = {}): KubernetesObject =>
  ({
    apiVersion: "skiff.dev/v1alpha1",
    kind: "TrafficPolicy",
    metadata: { name: "p", namespace: "n", ...(generation === undefined ? {} : { generation }), ...extra },
  }) as KubernetesObject;

describe("status-only updates of Skiff's own kinds", () => {
  it("are an update that keeps the generation and the deletion", () => {
    assert.equal(onlyStatusChanged({ type: "update", old: policy(3), object: policy(3) }), true);
  });

  it("are not a spec change, a deletion starting, an add or a delete", () => {
    assert.equal(onlyStatusChanged({ type: "update", old: policy(3), object: policy(4) }), false);
    assert.equal(
      onlyStatusChanged({
        type: "update",
        old: policy(3),
        object: policy(3, { deletionTimestamp: "2026-11-26T00:00:00Z" }),
      }),
      false,
    );
    assert.equal(onlyStatusChanged({ type: "add", object: policy(3) }), false);
    assert.equal(onlyStatusChanged({ type: "delete", object: policy(3) }), false);
  });

  it("are never assumed for an object without a generation", () => {
    assert.equal(
      onlyStatusChanged({ type: "update", old: policy(undefined), object: policy(undefined) }),
      false,
    );
  });
});
