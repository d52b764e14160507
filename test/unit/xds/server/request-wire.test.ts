import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { messageType } from "../../../../src/xds/protos/registry.js";
import { nameSet } from "../../../../src/xds/server/name-sets.js";
import { decodeDeltaRequest, decodeSotwRequest } from "../../../../src/xds/server/request-wire.js";

const encode = (name: string, init: object) => {
  const desc = messageType(`envoy.service.discovery.v3.${name}`);
  return toBinary(desc, create(desc, init as never));
};
const node = {
  id: "sidecar~10.0.0.1~a.b~b.svc.cluster.local",
  cluster: "c",
  metadata: { GENERATOR: "grpc", n: 2 },
};

describe("ADS request decoding", () => {
  it("reads every field of a DiscoveryRequest the server uses, as the generic decoder would", () => {
    const bytes = encode("DiscoveryRequest", {
      versionInfo: "v1",
      node,
      resourceNames: ["b", "a", "b"],
      resourceLocators: [{ name: "xdstp://ignored" }],
      typeUrl: "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
      responseNonce: "4-2",
      errorDetail: { code: 3, message: "rejected" },
    });
    const request = decodeSotwRequest(bytes);
    assert.equal(request.versionInfo, "v1");
    assert.deepEqual(request.resourceNames, ["b", "a", "b"]);
    assert.equal(request.typeUrl, "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment");
    assert.equal(request.responseNonce, "4-2");
    assert.deepEqual([request.errorDetail?.code, request.errorDetail?.message], [3, "rejected"]);
    assert.equal(request.node?.id, node.id);
    assert.deepEqual(request.node?.metadata, node.metadata);
  });

  it("reads every field of a DeltaDiscoveryRequest, initial versions as a Map, and an ACK has no error", () => {
    const bytes = encode("DeltaDiscoveryRequest", {
      typeUrl: "type.googleapis.com/envoy.config.cluster.v3.Cluster",
      resourceNamesSubscribe: ["*", "x"],
      resourceNamesUnsubscribe: ["y"],
      initialResourceVersions: { x: "1", ["__proto__"]: "2", "": "3" },
      responseNonce: "9-1",
    });
    const request = decodeDeltaRequest(bytes);
    assert.deepEqual(request.resourceNamesSubscribe, ["*", "x"]);
    assert.deepEqual(request.resourceNamesUnsubscribe, ["y"]);
    assert.deepEqual([...request.initialResourceVersions].sort(), [
      ["", "3"],
      ["__proto__", "2"],
      ["x", "1"],
    ]);
    assert.equal(request.responseNonce, "9-1");
    assert.equal(request.errorDetail, undefined);
    assert.equal(request.node, undefined);
  });

  it("skips unknown fields of any wire type, and rejects known fields of the wrong type or cut-off bytes", () => {
    const valid = encode("DiscoveryRequest", { typeUrl: "t", resourceNames: ["a"] });
    const unknown = new BinaryWriter()
      .tag(99, WireType.Varint)
      .uint32(7)
      .tag(100, WireType.Bit64)
      .fixed64(1)
      .finish();
    const withUnknown = new Uint8Array([...valid, ...unknown]);
    assert.deepEqual(decodeSotwRequest(withUnknown).resourceNames, ["a"]);

    const wrongType = new BinaryWriter().tag(4, WireType.Varint).uint32(1).finish();
    assert.throws(() => decodeSotwRequest(wrongType), /field 4/);
    assert.throws(() => decodeDeltaRequest(wrongType), /field 4/);
    assert.throws(() => decodeSotwRequest(valid.subarray(0, valid.length - 1)));
    assert.throws(() => decodeDeltaRequest(new Uint8Array([0xff, 0xff, 0xff])));
  });

  describe("an ACK that repeats the subscription", () => {
    const EDS = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
    const RDS = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
    const subscription = nameSet(["outbound|80||a.x", "outbound|80||b.x", "outbound|80||c.ü"]);
    const routes = nameSet(["80", "8080"]);
    const subscribed = new Map([
      [EDS, { wildcard: false, names: subscription }],
      [RDS, { wildcard: false, names: routes }],
    ]);
    const ack = (resourceNames: string[], typeUrl = EDS) =>
      decodeSotwRequest(
        encode("DiscoveryRequest", { typeUrl, resourceNames, responseNonce: "1-1" }),
        undefined,
        subscribed,
      );

    it("carries the subscription's own set and list when the names are, in order, that set's", () => {
      const request = ack([...subscription]);
      assert.equal(request.sameNamesAs, subscription);
      assert.deepEqual(request.resourceNames, [...subscription]);
      assert.equal(ack([...subscription]).resourceNames, request.resourceNames, "one list, shared");
    });

    it("decodes the names when they differ from the set's in any way", () => {
      const [a, b, c] = [...subscription] as [string, string, string];
      for (const names of [
        [b, a, c],
        [a, b],
        [a, b, c, "*"],
        [a, b, c, c],
        [a, b, "outbound|80||c.u"],
      ]) {
        const request = ack(names);
        assert.equal(request.sameNamesAs, undefined, names.join(","));
        assert.deepEqual(request.resourceNames, names);
      }
      const otherType = ack([a, b, c], "type.googleapis.com/envoy.config.cluster.v3.Cluster");
      assert.equal(otherType.sameNamesAs, undefined);
      assert.deepEqual(otherType.resourceNames, [a, b, c]);
      assert.equal(ack([a, b, c], RDS).sameNamesAs, undefined, "another type's names");
      assert.equal(ack([...routes], RDS).sameNamesAs, routes, "each type's own");
    });

    it("never takes the names of a wildcard subscription as repeated", () => {
      const wildcard = new Map([[EDS, { wildcard: true, names: subscription }]]);
      const bytes = encode("DiscoveryRequest", { typeUrl: EDS, resourceNames: [...subscription] });
      const request = decodeSotwRequest(bytes, undefined, wildcard);
      assert.equal(request.sameNamesAs, undefined);
      assert.deepEqual(request.resourceNames, [...subscription]);
    });

    it("decodes names that other fields interrupt, and checks the limit and the bounds either way", () => {
      const names = new BinaryWriter();
      for (const name of [...subscription].slice(0, 2)) names.tag(3, WireType.LengthDelimited).string(name);
      names.tag(4, WireType.LengthDelimited).string(EDS);
      names.tag(3, WireType.LengthDelimited).string([...subscription][2]!);
      const interrupted = decodeSotwRequest(names.finish(), undefined, subscribed);
      assert.equal(interrupted.sameNamesAs, undefined);
      assert.deepEqual(interrupted.resourceNames, [...subscription]);

      const limits = { maxNames: 2, maxNodeIdBytes: 1, maxNodeClusterBytes: 1, maxNodeMetadataBytes: 1 };
      const repeated = encode("DiscoveryRequest", { typeUrl: EDS, resourceNames: [...subscription] });
      assert.throws(() => decodeSotwRequest(repeated, limits, subscribed), /resource names/);
      const cut = encode("DiscoveryRequest", { resourceNames: [...subscription] });
      assert.throws(() => decodeSotwRequest(cut.subarray(0, cut.length - 1), undefined, subscribed), /EOF/);
    });
  });
});
