import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { xdsConnectedProxies, xdsPushes } from "../../../../src/observability/metrics.js";
import type { ProxyState } from "../../../../src/xds/server/ads-server.js";
import { typeUrl } from "../../../../src/xds/protos/registry.js";
import { CLUSTER, encoded, fixtures as f } from "../../../support/fake-snapshot-source.js";
import { Harness, counterValue, eventually } from "./harness.js";

const CDS = typeUrl(CLUSTER);
const gauge = async () => (await xdsConnectedProxies.get()).values[0]?.value ?? 0;

describe("ADS server, fan-out and status", () => {
  let h: Harness;
  beforeEach(async () => (h = await new Harness().start()));
  afterEach(() => h.stop());

  it("sends three proxies the resource's own bytes, without encoding anything per proxy", async () => {
    // A valid but non-canonical encoding (the name field twice): decoding and
    // re-encoding would yield different bytes, so equality proves pass-through.
    const canonical = f.cluster(h.source, "c1");
    const twice = new Uint8Array([...canonical.bytes, 0x0a, 0x02, ...Buffer.from("c1")]);
    const c1 = encoded(CLUSTER, "c1", twice);
    h.source.set(c1);
    const encodes = h.source.encodes;
    const pushesBefore = await counterValue(xdsPushes, "cds");

    const proxies = ["p1", "p2", "p3"].map((id) => h.sotw({ id }));
    for (const p of proxies) p.request({ typeUrl: CDS });
    const responses = await Promise.all(proxies.map((p) => p.next()));
    for (const r of responses) assert.deepEqual(r.resources[0]!.value, twice);

    proxies.forEach((p, i) => p.ack(responses[i]!));
    await eventually(() => h.statuses.length === 3);
    h.source.set(c1, f.cluster(h.source, "c2"));
    const pushed = await Promise.all(proxies.map((p) => p.next()));
    for (const r of pushed) assert.deepEqual(r.resources[0]!.value, twice);

    assert.equal(h.source.encodes, encodes + 1, "only the fixture's own encode of c2");
    assert.equal(await counterValue(xdsPushes, "cds"), pushesBefore + 6);
    // One snapshot per proxy per generation.
    assert.deepEqual(h.source.snapshotsFor.slice(-3).sort(), ["p1", "p2", "p3"]);
    assert.equal(h.source.snapshotsFor.length, 6);
  });

  it("lists connected proxies with per-type generations and emits connect and disconnect", async () => {
    const connects: ProxyState[] = [];
    const disconnects: ProxyState[] = [];
    h.server!.on("connect", (s) => connects.push(s));
    h.server!.on("disconnect", (s) => disconnects.push(s));
    const gaugeBefore = await gauge();

    const gen = h.source.set(f.cluster(h.source, "c1"));
    const envoy = h.sotw({ id: "envoy-1", cluster: "default/web", metadata: { NAMESPACE: "default" } });
    envoy.request({ typeUrl: CDS });
    envoy.ack(await envoy.next());
    const grpc = h.delta({ id: "grpc-1", metadata: { GENERATOR: "grpc" } });
    grpc.request({ typeUrl: CDS });
    await grpc.next();
    await eventually(() => connects.length === 2 && h.statuses.length === 1);
    assert.equal(await gauge(), gaugeBefore + 2);

    const byId = new Map(h.server!.proxies().map((p) => [p.node.id, p]));
    const e = byId.get("envoy-1")!;
    assert.equal(e.protocol, "sotw");
    assert.deepEqual(e.node, { id: "envoy-1", cluster: "default/web", metadata: { NAMESPACE: "default" } });
    assert.deepEqual(
      e.types.map((t) => [t.typeUrl, t.lastSentGeneration, t.lastAckedGeneration, t.awaitingAnswer]),
      [[CDS, gen, gen, false]],
    );
    const g = byId.get("grpc-1")!;
    assert.equal(g.protocol, "delta");
    assert.deepEqual(g.node.metadata, { GENERATOR: "grpc" });
    assert.deepEqual(
      g.types.map((t) => [t.lastSentGeneration, t.lastAckedGeneration, t.awaitingAnswer]),
      [[gen, undefined, true]],
    );

    envoy.close();
    await eventually(() => disconnects.length === 1);
    assert.equal(disconnects[0]!.node.id, "envoy-1");
    assert.deepEqual(
      h.server!.proxies().map((p) => p.node.id),
      ["grpc-1"],
    );
    assert.equal(await gauge(), gaugeBefore + 1);
  });

  it("on stop, ends streams with UNAVAILABLE and stops listening to the source", async () => {
    h.source.set(f.cluster(h.source, "c1"));
    const proxy = h.sotw();
    proxy.request({ typeUrl: CDS });
    await proxy.next();
    assert.equal(h.source.subscribers, 1);
    await h.server!.stop();
    assert.equal((await proxy.status).code, status.UNAVAILABLE);
    assert.equal(h.source.subscribers, 0);
    assert.deepEqual(h.server!.proxies(), []);
  });
});
