import assert from "node:assert/strict";
import { typeUrl } from "../../../../src/xds/protos/registry.js";
import type { AdsCall } from "../../../../src/xds/server/ads-stream.js";
import { releaseReadBuffers } from "../../../../src/xds/server/read-buffers.js";
import { ENDPOINTS, fixtures as f } from "../../../support/fake-snapshot-source.js";
import { Harness } from "./harness.js";

const EDS = typeUrl(ENDPOINTS);

/** The grpc-js decoder state of the server side of every open stream. */
function serverDecoders(h: Harness) {
  const streams = (h.server as unknown as { streams: Set<{ call: AdsCall }> }).streams;
  return [...streams].map((s) => {
    const decoder = (
      s.call as unknown as { call: { decoder: { readPartialMessage: Buffer[]; readCompressFlag: Buffer } } }
    ).call.decoder;
    return { call: s.call, decoder };
  });
}

describe("ADS server, received bytes", () => {
  let h: Harness;
  beforeEach(async () => (h = await new Harness().start()));
  afterEach(() => h.stop());

  it("keeps nothing of a large request once it is handled (grpc-js would keep the chunks)", async () => {
    const names = Array.from(
      { length: 2000 },
      (_, i) => `outbound|8080||service-${i}.bench.svc.cluster.local`,
    );
    h.source.set(f.endpoints(h.source, names[0]!));
    const proxy = h.sotw();
    proxy.request({ typeUrl: EDS, resourceNames: names });
    proxy.ack(await proxy.next(), names);
    await proxy.expectNothing();

    const decoders = serverDecoders(h);
    assert.equal(decoders.length, 1);
    for (const { call, decoder } of decoders) {
      assert.deepEqual(decoder.readPartialMessage, []);
      assert.equal(decoder.readCompressFlag.buffer.byteLength < 8192, true, "no slice of a received chunk");
      assert.equal(releaseReadBuffers(call), true, "the workaround finds grpc-js's decoder");
    }
  });
});
