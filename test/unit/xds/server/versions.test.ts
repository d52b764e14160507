import assert from "node:assert/strict";
import { fromBinary } from "@bufbuild/protobuf";
import type { EncodedResource } from "../../../../src/xds/cache/snapshot.js";
import { messageType } from "../../../../src/xds/protos/registry.js";
import { nameSet } from "../../../../src/xds/server/name-sets.js";
import { selectionOf } from "../../../../src/xds/server/sotw-selection.js";
import { contentVersion } from "../../../../src/xds/server/versions.js";
import { withNonce } from "../../../../src/xds/server/wire.js";

const CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
const resource = (name: string, version: string): EncodedResource => ({
  typeUrl: CLUSTER,
  name,
  version,
  bytes: new Uint8Array(),
});

describe("SotW response versions and selections", () => {
  const a = resource("a", "1");
  const b = resource("b", "2");
  const type = new Map([
    ["b", b],
    ["a", a],
  ]);

  it("give a whole type the version its resources have, in any order, and list them sorted", () => {
    const whole = selectionOf(CLUSTER, type, true, nameSet([]));
    assert.equal(whole.version, contentVersion([b, a]));
    assert.notEqual(whole.version, contentVersion([a]));
    assert.deepEqual(whole.names, ["a", "b"]);
  });

  it("change with any resource's version, in a new snapshot map", () => {
    const before = new Map([["a", resource("a", "1")]]);
    const after = new Map([["a", resource("a", "2")]]);
    assert.notEqual(
      selectionOf(CLUSTER, before, true, nameSet([])).version,
      selectionOf(CLUSTER, after, true, nameSet([])).version,
    );
  });

  it("are shared by subscriptions with the same names, and select only names that exist", () => {
    const first = selectionOf(CLUSTER, type, false, nameSet(["a", "missing"]));
    const second = selectionOf(CLUSTER, type, false, nameSet(["a", "missing"]));
    assert.equal(first, second);
    assert.deepEqual(first.names, ["a"]);
    assert.equal(first.version, contentVersion([a]));
    assert.notEqual(selectionOf(CLUSTER, type, false, nameSet(["b"])), first);
  });

  it("encode a response whose nonce is appended to the shared body", () => {
    const selection = selectionOf(CLUSTER, type, true, nameSet([]));
    const decoded = fromBinary(
      messageType("envoy.service.discovery.v3.DiscoveryResponse"),
      withNonce(selection.body(), "7-3"),
    ) as unknown as { versionInfo: string; typeUrl: string; nonce: string; resources: { typeUrl: string }[] };
    assert.equal(decoded.nonce, "7-3");
    assert.equal(decoded.versionInfo, selection.version);
    assert.equal(decoded.typeUrl, CLUSTER);
    assert.equal(decoded.resources.length, 2);
  });
});
