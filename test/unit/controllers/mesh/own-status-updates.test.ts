import assert from "node:assert/strict";
import type { KubernetesObject } from "@kubernetes/client-node";
import type { MeshStatus } from "../../../../src/api/v1alpha1/generated/mesh.js";
import { OwnStatusWrites } from "../../../../src/controllers/mesh/own-status-updates.js";

const written: MeshStatus = {
  observedGeneration: 2,
  conditions: [
    {
      type: "Ready",
      status: "True",
      reason: "Ready",
      message: "the mesh is ready",
      lastTransitionTime: "2026-12-04T10:00:00Z",
      observedGeneration: 2,
    },
  ],
  controlPlane: { readyReplicas: 0, xdsAddress: "skiff-xds.skiff-system.svc:15012" },
  meshedNamespaces: 1,
};
const mesh = (resourceVersion: string, status: object, spec: object = {}) =>
  ({
    apiVersion: "skiff.dev/v1alpha1",
    kind: "Mesh",
    metadata: { name: "default", resourceVersion, generation: 2 },
    spec,
    status,
  }) as KubernetesObject;
const update = (old: KubernetesObject, object: KubernetesObject) => ({
  type: "update" as const,
  old,
  object,
});

describe("OwnStatusWrites: the echo of the Mesh reconciler's own status write needs no reconcile", () => {
  const writes = new OwnStatusWrites();
  writes.record("default", written);
  const before = mesh("1", { observedGeneration: 1 });

  it("knows the echo: only status changed, to what was written (the xDS server's proxy count aside)", () => {
    assert.equal(writes.isEcho(update(before, mesh("2", written))), true);
    assert.equal(writes.isEcho(update(before, mesh("2", { ...written, connectedProxies: 3 }))), true);
  });

  it("reconciles a status it did not write, and a status write that came with any other change", () => {
    assert.equal(writes.isEcho(update(before, mesh("2", { ...written, meshedNamespaces: 2 }))), false);
    assert.equal(writes.isEcho(update(before, mesh("2", written, { controlPlane: { replicas: 3 } }))), false);
    const relabelled = mesh("2", written);
    relabelled.metadata!.labels = { team: "mesh" };
    assert.equal(writes.isEcho(update(before, relabelled)), false);
  });

  it("reconciles a resync, an add, a delete, and a Mesh it never wrote", () => {
    const current = mesh("2", written);
    assert.equal(writes.isEcho(update(current, current)), false);
    assert.equal(writes.isEcho({ type: "add", object: current }), false);
    assert.equal(writes.isEcho({ type: "delete", object: current }), false);
    const other = mesh("2", written);
    other.metadata!.name = "other";
    assert.equal(
      writes.isEcho(update({ ...before, metadata: { ...before.metadata, name: "other" } }, other)),
      false,
    );
  });

  it("forgets an older write once a newer one is recorded", () => {
    const newer = { ...written, meshedNamespaces: 4 };
    const own = new OwnStatusWrites();
    own.record("default", written);
    own.record("default", newer);
    assert.equal(own.isEcho(update(before, mesh("2", written))), false);
    assert.equal(own.isEcho(update(before, mesh("3", newer))), true);
  });
});
