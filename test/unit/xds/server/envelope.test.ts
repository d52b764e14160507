import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import type { EncodedResource } from "../../../../src/xds/cache/snapshot.js";
import { messageType } from "../../../../src/xds/protos/registry.js";
import { encodeDeltaResponse, encodeSotwResponseBody } from "../../../../src/xds/server/wire.js";

const DISCOVERY = "envoy.service.discovery.v3";

/** What the hand-written envelopes replace: protobuf-es' reflective encoder. */
function reflectiveSotw(r: Parameters<typeof encodeSotwResponseBody>[0]): Uint8Array {
  const desc = messageType(`${DISCOVERY}.DiscoveryResponse`);
  return toBinary(
    desc,
    create(desc, {
      versionInfo: r.versionInfo,
      typeUrl: r.typeUrl,
      resources: r.resources.map((x) => ({ typeUrl: x.typeUrl, value: x.bytes })),
    } as never),
  );
}

function reflectiveDelta(r: Parameters<typeof encodeDeltaResponse>[0]): Uint8Array {
  const desc = messageType(`${DISCOVERY}.DeltaDiscoveryResponse`);
  return toBinary(
    desc,
    create(desc, {
      systemVersionInfo: r.systemVersionInfo,
      typeUrl: r.typeUrl,
      nonce: r.nonce,
      resources: r.resources.map((x) => ({
        name: x.name,
        version: x.version,
        resource: { typeUrl: x.typeUrl, value: x.bytes },
      })),
      removedResources: [...r.removedResources],
    } as never),
  );
}

// Strings of any code points (names, versions), empty ones included, and sizes past one varint byte.
const text = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.string({ minLength: 100, maxLength: 300 }),
);
const resource: fc.Arbitrary<EncodedResource> = fc.record({
  typeUrl: fc.constantFrom("type.googleapis.com/envoy.config.cluster.v3.Cluster", "", "t/é"),
  name: text,
  version: text,
  bytes: fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ minLength: 127, maxLength: 20_000 })),
});

describe("ADS response envelopes, written by hand", () => {
  it("SotW: the same bytes as protobuf-es for any resources, version and type", () => {
    fc.assert(
      fc.property(text, text, fc.array(resource, { maxLength: 12 }), (versionInfo, typeUrl, resources) => {
        const response = { versionInfo, typeUrl, resources };
        assert.deepEqual(encodeSotwResponseBody(response), reflectiveSotw(response));
      }),
      { numRuns: 300 },
    );
  });

  it("delta: the same bytes as protobuf-es, removed names and nonce included", () => {
    fc.assert(
      fc.property(
        text,
        text,
        text,
        fc.array(resource, { maxLength: 12 }),
        fc.array(text, { maxLength: 6 }),
        (systemVersionInfo, typeUrl, nonce, resources, removedResources) => {
          const response = { systemVersionInfo, typeUrl, nonce, resources, removedResources };
          assert.deepEqual(encodeDeltaResponse(response), reflectiveDelta(response));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("a thousand resources of a large mesh, as one push sends them", () => {
    const resources = Array.from({ length: 1000 }, (_, i) => ({
      typeUrl: "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
      name: `outbound|8080||svc-${i}.bench.svc.cluster.local`,
      version: `v${i}`,
      bytes: new Uint8Array(300 + (i % 50)).fill(i % 256),
    }));
    const sotw = { versionInfo: "abc", typeUrl: resources[0]!.typeUrl, resources };
    assert.deepEqual(encodeSotwResponseBody(sotw), reflectiveSotw(sotw));
    const delta = {
      systemVersionInfo: "7",
      typeUrl: resources[0]!.typeUrl,
      nonce: "",
      resources,
      removedResources: ["gone"],
    };
    assert.deepEqual(encodeDeltaResponse(delta), reflectiveDelta(delta));
  });
});
