import assert from "node:assert/strict";
import type { EncodedResource } from "../../../../src/xds/cache/snapshot.js";
import { ABSENT, KnownVersions } from "../../../../src/xds/server/known-versions.js";

const resource = (name: string, version: string): EncodedResource => ({
  typeUrl: "type.googleapis.com/envoy.config.cluster.v3.Cluster",
  name,
  version,
  bytes: new Uint8Array(),
});
const snapshot = new Map([
  ["a", resource("a", "1")],
  ["b", resource("b", "2")],
  ["c", resource("c", "3")],
]);

describe("what a delta proxy knows", () => {
  it("starts from the versions a reconnecting proxy sends", () => {
    const known = KnownVersions.of(
      new Map([
        ["a", "1"],
        ["z", "9"],
      ]),
    );
    assert.equal(known.get("a"), "1");
    assert.equal(known.get("z"), "9");
    assert.equal(known.get("b"), undefined);
    assert.deepEqual([...known.names()].sort(), ["a", "z"]);
  });

  it("in line with a snapshot, holds its versions by reference, limited to the named subscription", () => {
    const known = KnownVersions.of(new Map([["old", "0"]]));
    known.inLineWith(snapshot, new Set(["a", "b", "gone"]), ["gone"]);
    assert.equal(known.get("a"), "1");
    assert.equal(known.get("c"), undefined, "not subscribed, so not held");
    assert.equal(known.get("gone"), ABSENT);
    assert.equal(known.get("old"), undefined, "what came before is replaced");
    assert.deepEqual([...known.names()].sort(), ["a", "b", "gone"]);
  });

  it("records changes and deletions over the snapshot it is in line with", () => {
    const known = new KnownVersions();
    known.inLineWith(snapshot, undefined, []);
    known.set("a", "1b");
    known.delete("b");
    known.delete("never");
    known.set("new", ABSENT);
    assert.equal(known.get("a"), "1b");
    assert.equal(known.get("b"), undefined);
    assert.equal(known.get("c"), "3");
    assert.equal(known.get("new"), ABSENT);
    assert.deepEqual([...known.names()].sort(), ["a", "c", "new"]);
    known.delete("new");
    assert.deepEqual([...known.names()].sort(), ["a", "c"]);
  });
});
