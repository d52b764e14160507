import assert from "node:assert/strict";
import { status, type StatusObject } from "@grpc/grpc-js";
import { typeUrl } from "../../../../src/xds/protos/registry.js";
import {
  DEFAULT_STREAM_LIMITS,
  MAX_REQUEST_BYTES,
  type StreamLimits,
} from "../../../../src/xds/server/limits.js";
import { CLUSTER, ENDPOINTS, fixtures as f } from "../../../support/fake-snapshot-source.js";
import { Harness, eventually } from "./harness.js";

const CDS = typeUrl(CLUSTER);
const EDS = typeUrl(ENDPOINTS);
const names = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}-${i}`);

/** Small limits, so each is reached with a few requests. */
const SMALL: Partial<StreamLimits> = {
  maxNames: 100,
  maxNameCharacters: 2000,
  maxTypes: 4,
  maxTypeUrlCharacters: 80,
  maxNodeIdBytes: 64,
  maxNodeClusterBytes: 32,
  maxNodeMetadataBytes: 256,
  maxRequestsBeforeIdentified: 3,
};

async function endedWith(ended: Promise<StatusObject>, code: status, details: RegExp): Promise<void> {
  const { code: actual, details: message } = await ended;
  assert.equal(status[actual], status[code], message);
  assert.match(message, details);
}

describe("ADS server, per-stream limits", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await new Harness().start({ limits: SMALL });
    h.source.set(f.cluster(h.source, "c1"), f.endpoints(h.source, "c1"));
  });
  afterEach(() => h.stop());

  it("serves a proxy that stays within every limit", async () => {
    const proxy = h.delta({ id: "x".repeat(64), cluster: "c".repeat(32), metadata: { GENERATOR: "grpc" } });
    proxy.request({ typeUrl: CDS });
    proxy.ack(await proxy.next());
    proxy.request({ typeUrl: EDS, subscribe: names("e", 60) });
    proxy.ack(await proxy.next());
    // Unsubscribing makes room: the limit is on what the stream holds now.
    proxy.request({ typeUrl: EDS, unsubscribe: names("e", 60) });
    proxy.request({ typeUrl: EDS, subscribe: names("f", 90) });
    proxy.ack(await proxy.next());
    proxy.request({ typeUrl: "type.googleapis.com/unknown.A" });
    assert.equal((await proxy.next()).typeUrl, "type.googleapis.com/unknown.A");
    await eventually(
      () => h.server!.proxies()[0]?.types.find((t) => t.typeUrl === EDS)?.names?.length === 90,
    );
  });

  it("ends a delta stream whose subscriptions add up past maxNames with RESOURCE_EXHAUSTED", async () => {
    const proxy = h.delta();
    proxy.request({ typeUrl: EDS, subscribe: names("a", 60) });
    proxy.request({ typeUrl: CDS, subscribe: names("b", 41) });
    await endedWith(proxy.status, status.RESOURCE_EXHAUSTED, /resource names held: more than 100/);
  });

  it("counts a delta reconnect's initial_resource_versions as names", async () => {
    const proxy = h.delta();
    const versions = Object.fromEntries(names("v", 101).map((n) => [n, "1"]));
    proxy.request({ typeUrl: EDS, subscribe: ["c1"], initialResourceVersions: versions });
    await endedWith(proxy.status, status.RESOURCE_EXHAUSTED, /resource names in one request: more than 100/);
  });

  it("ends a SotW stream that asks for more names than it may hold, in one request or over several types", async () => {
    const one = h.sotw({ id: "one" });
    one.request({ typeUrl: EDS, resourceNames: names("a", 101) });
    await endedWith(one.status, status.RESOURCE_EXHAUSTED, /resource names in one request: more than 100/);
    const several = h.sotw({ id: "several" });
    several.request({ typeUrl: EDS, resourceNames: names("a", 60) });
    several.request({ typeUrl: "type.googleapis.com/unknown.A", resourceNames: names("b", 41) });
    await endedWith(several.status, status.RESOURCE_EXHAUSTED, /resource names held: more than 100/);
  });

  it("ends a stream whose names are longer in all than maxNameCharacters", async () => {
    const proxy = h.sotw();
    proxy.request({ typeUrl: EDS, resourceNames: names("x".repeat(40), 50) });
    await endedWith(
      proxy.status,
      status.RESOURCE_EXHAUSTED,
      /characters of resource names held: more than 2000/,
    );
  });

  it("answers a type it does not produce with an empty response, up to maxTypes types", async () => {
    const proxy = h.delta();
    for (const t of ["A", "B", "C", "D"]) {
      proxy.request({ typeUrl: `type.googleapis.com/unknown.${t}` });
      const response = await proxy.next();
      assert.equal(response.typeUrl, `type.googleapis.com/unknown.${t}`);
      assert.deepEqual([response.resources, response.removedResources], [[], []]);
    }
    proxy.request({ typeUrl: "type.googleapis.com/unknown.E" });
    await endedWith(proxy.status, status.RESOURCE_EXHAUSTED, /distinct type URLs: more than 4/);
  });

  it("ends a stream with a type URL longer than maxTypeUrlCharacters with INVALID_ARGUMENT", async () => {
    const proxy = h.sotw();
    proxy.request({ typeUrl: `type.googleapis.com/${"x".repeat(61)}` });
    await endedWith(proxy.status, status.INVALID_ARGUMENT, /type_url is 81 characters, more than the 80/);
  });

  for (const [field, node, message] of [
    ["id", { id: "i".repeat(65) }, /node.id is 65 bytes, more than the 64/],
    ["cluster", { id: "p", cluster: "c".repeat(33) }, /node.cluster is 33 bytes/],
    [
      "metadata",
      { id: "p", metadata: Object.fromEntries(names("k", 40).map((k) => [k, k])) },
      /node.metadata is \d+ encoded bytes, more than the 256/,
    ],
  ] as const) {
    it(`refuses a node whose ${field} is over its limit with INVALID_ARGUMENT, and serves nothing`, async () => {
      const proxy = h.delta(node);
      proxy.request({ typeUrl: CDS });
      await endedWith(proxy.status, status.INVALID_ARGUMENT, message);
      assert.deepEqual(h.server!.proxies(), []);
    });
  }

  it("keeps a NACK message cut to maxNackMessageCodePoints, on a code point", async () => {
    await h.stop();
    h = await new Harness().start({ limits: { maxNackMessageCodePoints: 5 } });
    h.source.set(f.cluster(h.source, "c1"));
    const proxy = h.sotw();
    proxy.request({ typeUrl: CDS });
    proxy.nack(await proxy.next(), `abcd😀${"x".repeat(10_000)}`);
    await eventually(() => h.statuses.length === 1);
    assert.equal(h.statuses[0]!.errorDetail, "abcd😀");
    assert.equal(h.server!.proxies()[0]!.types[0]!.lastNack?.message, "abcd😀");
  });
});

describe("ADS server, request rate and size", () => {
  let h: Harness;
  afterEach(() => h.stop());

  it("ends a stream that sends requests faster than requestsPerSecond past its burst with RESOURCE_EXHAUSTED", async () => {
    // One request a second: 50 requests sent at once are past a burst of 20 however slow the machine.
    h = await new Harness().start({ limits: { requestsPerSecond: 1, requestBurst: 20 } });
    h.source.set(f.cluster(h.source, "c1"));
    const proxy = h.sotw();
    for (let i = 0; i < 50; i++) proxy.request({ typeUrl: CDS, responseNonce: `stale-${i}` });
    await endedWith(proxy.status, status.RESOURCE_EXHAUSTED, /more than 1 requests a second \(burst 20\)/);
  });

  it("refuses a request larger than MAX_REQUEST_BYTES with RESOURCE_EXHAUSTED, by default", async () => {
    h = await new Harness().start();
    h.source.set(f.cluster(h.source, "c1"));
    const proxy = h.sotw();
    proxy.request({ typeUrl: CDS });
    proxy.ack(await proxy.next());
    proxy.request({ typeUrl: EDS, resourceNames: ["x".repeat(MAX_REQUEST_BYTES)] });
    await endedWith(proxy.status, status.RESOURCE_EXHAUSTED, /larger than max/);
  });

  it("keeps at most maxRequestsBeforeIdentified requests while the credentials are checked", async () => {
    h = await new Harness().start({
      limits: { maxRequestsBeforeIdentified: 3 },
      authenticate: () => new Promise(() => {}), // never answers
    });
    const proxy = h.delta();
    for (const t of ["A", "B", "C", "D"]) proxy.request({ typeUrl: `type.googleapis.com/unknown.${t}` });
    await endedWith(
      proxy.status,
      status.RESOURCE_EXHAUSTED,
      /requests before the credentials were checked: more than 3/,
    );
  });

  it("has defaults that a large mesh's sidecar stays well within", () => {
    const limits = DEFAULT_STREAM_LIMITS;
    // 20,000 EDS names of 80 characters, one SotW ACK of them, and Envoy's dozen types.
    assert.ok(limits.maxNames >= 2 * 20_000 && limits.maxNameCharacters >= 20_000 * 80 * 2);
    assert.ok(20_000 * (80 + 3) < MAX_REQUEST_BYTES);
    assert.ok(limits.maxTypes >= 12);
  });
});
