import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { xdsConnectedProxies } from "../../../../src/observability/metrics.js";
import { typeUrl } from "../../../../src/xds/protos/registry.js";
import { CLUSTER, fixtures as f } from "../../../support/fake-snapshot-source.js";
import { Harness, eventually } from "./harness.js";

const CDS = typeUrl(CLUSTER);
/** Field 1 (length-delimited) claiming 255 bytes that never come. */
const GARBAGE = new Uint8Array([0x0a, 0xff, 0x01, 0x02]);

const gauge = async () => (await xdsConnectedProxies.get()).values[0]?.value ?? 0;

describe("ADS server, malformed input", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await new Harness().start();
    h.source.set(f.cluster(h.source, "c1"));
  });
  afterEach(() => h.stop());

  for (const protocol of ["sotw", "delta"] as const) {
    it(`ends a ${protocol} stream that sends undecodable bytes with INVALID_ARGUMENT and keeps serving others`, async () => {
      const healthy = h.sotw({ id: "healthy" });
      healthy.request({ typeUrl: CDS });
      const first = await healthy.next();
      await eventually(() => h.server!.proxies().length === 1);
      const connected = await gauge();

      const broken = protocol === "sotw" ? h.sotw({ id: "broken" }) : h.delta({ id: "broken" });
      broken.request({ typeUrl: CDS });
      await broken.next();
      await eventually(() => h.server!.proxies().length === 2);
      broken.sendRaw(GARBAGE);
      const ended = await broken.status;
      assert.equal(ended.code, status.INVALID_ARGUMENT);
      assert.match(ended.details, /malformed request/);
      await eventually(() => h.server!.proxies().length === 1);
      assert.equal(h.server!.proxies()[0]!.node.id, "healthy");
      assert.equal(await gauge(), connected);

      // The other stream still gets pushes, and new streams are accepted.
      healthy.ack(first);
      h.source.set(f.cluster(h.source, "c1"), f.cluster(h.source, "c2"));
      assert.deepEqual((await healthy.next()).names, ["c1", "c2"]);
      const late = h.delta({ id: "late" });
      late.request({ typeUrl: CDS });
      assert.deepEqual((await late.next()).names, ["c1", "c2"]);
    });

    it(`ends a ${protocol} stream whose first request has no node with INVALID_ARGUMENT`, async () => {
      const anonymous = protocol === "sotw" ? h.sotw(null) : h.delta(null);
      anonymous.request({ typeUrl: CDS });
      const ended = await anonymous.status;
      assert.equal(ended.code, status.INVALID_ARGUMENT);
      assert.match(ended.details, /node/);
      assert.deepEqual(h.server!.proxies(), []);
    });
  }

  it("rejects a request without a type URL on the aggregated stream", async () => {
    const proxy = h.sotw();
    proxy.request({ typeUrl: "" });
    const ended = await proxy.status;
    assert.equal(ended.code, status.INVALID_ARGUMENT);
    assert.match(ended.details, /type_url/);
  });
});
