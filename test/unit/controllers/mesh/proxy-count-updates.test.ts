import assert from "node:assert/strict";
import type { KubernetesObject } from "@kubernetes/client-node";
import { onlyProxyCountChanged } from "../../../../src/controllers/mesh/proxy-count-updates.js";

const mesh = (resourceVersion: string, status: object, annotations?: Record<string, string>) =>
  ({
    apiVersion: "skiff.dev/v1alpha1",
    kind: "Mesh",
    metadata: { name: "default", resourceVersion, generation: 1, ...(annotations ? { annotations } : {}) },
    status,
  }) as KubernetesObject;
const update = (old: KubernetesObject, object: KubernetesObject) => ({
  type: "update" as const,
  old,
  object,
});

describe("Mesh events the reconciler can skip", () => {
  const before = mesh("1", { meshedNamespaces: 2, connectedProxies: 1 });

  it("skips an update that only changed status.connectedProxies (the xDS server's field)", () => {
    assert.equal(
      onlyProxyCountChanged(update(before, mesh("2", { meshedNamespaces: 2, connectedProxies: 5 }))),
      true,
    );
    assert.equal(
      onlyProxyCountChanged(
        update(mesh("1", { meshedNamespaces: 2 }), mesh("2", { meshedNamespaces: 2, connectedProxies: 0 })),
      ),
      true,
    );
  });

  it("keeps any other change, a resync and every add or delete", () => {
    assert.equal(
      onlyProxyCountChanged(update(before, mesh("2", { meshedNamespaces: 3, connectedProxies: 1 }))),
      false,
    );
    assert.equal(
      onlyProxyCountChanged(
        update(before, mesh("2", { meshedNamespaces: 2, connectedProxies: 5 }, { a: "b" })),
      ),
      false,
    );
    assert.equal(onlyProxyCountChanged(update(before, before)), false, "a resync re-checks drift");
    assert.equal(onlyProxyCountChanged({ type: "add", object: before }), false);
    assert.equal(onlyProxyCountChanged({ type: "delete", object: before }), false);
  });
});
