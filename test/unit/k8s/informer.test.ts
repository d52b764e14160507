import assert from "node:assert/strict";
import type { KubernetesObject } from "@kubernetes/client-node";
import { objectKey, relistEvents } from "../../../src/k8s/informer.js";

const cm = (name: string, resourceVersion: string, namespace = "default"): KubernetesObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace, resourceVersion },
});

describe("informer relist", () => {
  it("keys objects by namespace/name, or name when cluster-scoped", () => {
    assert.equal(objectKey(cm("a", "1", "ns")), "ns/a");
    assert.equal(objectKey({ metadata: { name: "default" } }), "default");
  });

  it("turns the difference between cache and a fresh list into events, so a 410 loses nothing", () => {
    const cache = new Map([
      ["default/kept", cm("kept", "1")],
      ["default/changed", cm("changed", "1")],
      ["default/gone", cm("gone", "1")],
    ]);
    const events = relistEvents(cache, [cm("kept", "1"), cm("changed", "7"), cm("new", "8")]);
    assert.deepEqual(
      events.map((e) => `${e.type} ${objectKey(e.object)}@${e.object.metadata!.resourceVersion}`),
      ["update default/changed@7", "add default/new@8", "delete default/gone@1"],
    );
  });
});
