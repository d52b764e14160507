import assert from "node:assert/strict";
import { activeMeshOtherThan } from "../../../src/mesh/singleton.js";

const mesh = (name: string, created: string, deleting = false) => ({
  metadata: {
    name,
    creationTimestamp: created as unknown as Date,
    ...(deleting ? { deletionTimestamp: created as unknown as Date } : {}),
  },
});

describe("one Mesh per cluster", () => {
  it("makes the oldest Mesh the mesh, and names it to the others", () => {
    const all = [mesh("second", "2026-01-02T00:00:00Z"), mesh("first", "2026-01-01T00:00:00Z")];
    assert.equal(activeMeshOtherThan("first", all), undefined);
    assert.equal(activeMeshOtherThan("second", all), "first");
  });

  it("breaks a tie by name", () => {
    const all = [mesh("b", "2026-01-01T00:00:00Z"), mesh("a", "2026-01-01T00:00:00Z")];
    assert.equal(activeMeshOtherThan("a", all), undefined);
    assert.equal(activeMeshOtherThan("b", all), "a");
  });

  it("passes the role on when the mesh is being deleted", () => {
    const all = [mesh("first", "2026-01-01T00:00:00Z", true), mesh("second", "2026-01-02T00:00:00Z")];
    assert.equal(activeMeshOtherThan("second", all), undefined);
  });
});
