import assert from "node:assert/strict";
import { containsFields } from "../../../src/k8s/fields.js";

describe("containsFields: whether a stored object already has what an apply would set", () => {
  const stored = {
    metadata: { name: "skiff-xds", labels: { app: "skiff-xds", other: "theirs" }, resourceVersion: "7" },
    spec: {
      replicas: 1,
      template: {
        spec: {
          containers: [{ name: "xds", image: "skiff:1", terminationMessagePath: "/dev/termination-log" }],
        },
      },
    },
    status: { readyReplicas: 1 },
  };

  it("ignores what only the stored object has: defaults, status, other managers' fields", () => {
    assert.equal(
      containsFields(stored, {
        metadata: { name: "skiff-xds", labels: { app: "skiff-xds" } },
        spec: { replicas: 1, template: { spec: { containers: [{ name: "xds", image: "skiff:1" }] } } },
      }),
      true,
    );
  });

  it("sees a value that differs, however deep", () => {
    assert.equal(containsFields(stored, { spec: { replicas: 2 } }), false);
    assert.equal(
      containsFields(stored, {
        spec: { template: { spec: { containers: [{ name: "xds", image: "skiff:2" }] } } },
      }),
      false,
    );
    assert.equal(containsFields(stored, { metadata: { labels: { app: "other" } } }), false);
  });

  it("sees a field the stored object lacks, and a missing object", () => {
    assert.equal(containsFields(stored, { metadata: { annotations: { a: "b" } } }), false);
    assert.equal(containsFields(stored, { spec: { paused: false } }), false);
    assert.equal(containsFields(undefined, { spec: {} }), false);
  });

  it("takes a list as a whole: an element more or less, or out of place, differs", () => {
    const containers = (names: string[]) => ({
      spec: { template: { spec: { containers: names.map((name) => ({ name })) } } },
    });
    assert.equal(containsFields(stored, containers(["xds"])), true);
    assert.equal(containsFields(stored, containers(["xds", "extra"])), false);
    assert.equal(containsFields(stored, containers([])), false);
    assert.equal(containsFields({ list: ["a", "b"] }, { list: ["b", "a"] }), false);
  });

  it("tells types apart: a string is not a number, an object is not a list, null is a value", () => {
    assert.equal(containsFields({ port: 80 }, { port: "80" }), false);
    assert.equal(containsFields({ data: ["a"] }, { data: { 0: "a" } }), false);
    assert.equal(containsFields({ data: null }, { data: null }), true);
    assert.equal(containsFields({ data: {} }, { data: null }), false);
  });

  it("treats a field set to undefined as not set, as JSON does", () => {
    assert.equal(containsFields(stored, { spec: { replicas: 1, paused: undefined } }), true);
  });
});
