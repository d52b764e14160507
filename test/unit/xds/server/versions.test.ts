import assert from "node:assert/strict";
import type { EncodedResource } from "../../../../src/xds/cache/snapshot.js";
import { contentVersion, wholeTypeVersion } from "../../../../src/xds/server/versions.js";

const resource = (name: string, version: string): EncodedResource => ({
  typeUrl: "type.googleapis.com/envoy.config.cluster.v3.Cluster",
  name,
  version,
  bytes: new Uint8Array(),
});

describe("SotW response versions", () => {
  it("give a whole type the version its resources have, in any order", () => {
    const a = resource("a", "1");
    const b = resource("b", "2");
    const type = new Map([
      ["a", a],
      ["b", b],
    ]);
    assert.equal(wholeTypeVersion(type), contentVersion([b, a]));
    assert.notEqual(wholeTypeVersion(type), contentVersion([a]));
  });

  it("change with any resource's version, in a new snapshot map", () => {
    const before = new Map([["a", resource("a", "1")]]);
    const after = new Map([["a", resource("a", "2")]]);
    assert.notEqual(wholeTypeVersion(before), wholeTypeVersion(after));
  });
});
