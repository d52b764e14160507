import assert from "node:assert/strict";
import type { Mesh } from "../../../../src/api/v1alpha1/generated/mesh.js";
import {
  desiredControlPlane,
  desiredNamespaceConfig,
  meshSettings,
} from "../../../../src/controllers/mesh/desired.js";
import { GENERATED_OBJECTS } from "../../../../src/controllers/mesh/generated.js";

describe("GENERATED_OBJECTS", () => {
  it("names every object the Mesh reconciler generates but the root Namespace, and nothing else", () => {
    const mesh: Mesh = {
      apiVersion: "skiff.dev/v1alpha1",
      kind: "Mesh",
      metadata: { name: "some-mesh", uid: "1" },
      spec: { rootNamespace: "mesh-system" },
    };
    const settings = meshSettings(mesh, "skiff:1.0");
    const desired = [...desiredControlPlane(settings), ...desiredNamespaceConfig(settings, "books", "pem")]
      .filter((o) => o.kind !== "Namespace")
      .map((o) => `${o.apiVersion} ${o.kind} ${o.metadata!.name}`);
    const watched = GENERATED_OBJECTS.map((o) => `${o.apiVersion} ${o.kind} ${o.name}`);
    assert.deepEqual([...desired].sort(), [...watched].sort());
  });
});
