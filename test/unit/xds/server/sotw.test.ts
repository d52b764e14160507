import assert from "node:assert/strict";
import { xdsNacks } from "../../../../src/observability/metrics.js";
import { typeUrl } from "../../../../src/xds/protos/registry.js";
import {
  CLUSTER,
  ENDPOINTS,
  LISTENER,
  ROUTE,
  SECRET,
  fixtures as f,
} from "../../../support/fake-snapshot-source.js";
import { Harness, counterValue, eventually } from "./harness.js";

const CDS = typeUrl(CLUSTER);
const EDS = typeUrl(ENDPOINTS);
const LDS = typeUrl(LISTENER);
const RDS = typeUrl(ROUTE);
const SDS = typeUrl(SECRET);

describe("ADS server, state of the world", () => {
  let h: Harness;
  beforeEach(async () => (h = await new Harness().start()));
  afterEach(() => h.stop());

  it("pushes every cluster to a wildcard CDS subscription on connect, as the encoded bytes", async () => {
    const c1 = f.cluster(h.source, "c1");
    const c2 = f.cluster(h.source, "c2");
    h.source.set(c1, c2);
    const proxy = h.sotw();
    proxy.request({ typeUrl: CDS });
    const r = await proxy.next();
    assert.equal(r.typeUrl, CDS);
    assert.deepEqual(r.names, ["c1", "c2"]);
    assert.notEqual(r.versionInfo, "");
    assert.notEqual(r.nonce, "");
    assert.deepEqual(r.resources[0]!.value, c1.bytes);
    assert.equal(r.resources[0]!.typeUrl, CDS);
  });

  it("does not resend what the proxy ACKed, and pushes a new version when content changes", async () => {
    const c1 = f.cluster(h.source, "c1");
    const gen1 = h.source.set(c1);
    const proxy = h.sotw();
    proxy.request({ typeUrl: CDS });
    const r1 = await proxy.next();
    proxy.ack(r1);
    await eventually(() => h.statuses.length === 1);
    assert.deepEqual(h.statuses[0], {
      proxyId: "proxy-1",
      typeUrl: CDS,
      generation: gen1,
      resourceNames: ["c1"],
      acked: true,
    });
    await proxy.expectNothing();

    // A new generation with the same content for this proxy is not a new version.
    h.source.set(f.cluster(h.source, "c1"));
    await proxy.expectNothing();

    const gen3 = h.source.set(f.cluster(h.source, "c1", "5s"), f.cluster(h.source, "c2"));
    const r2 = await proxy.next();
    assert.notEqual(r2.versionInfo, r1.versionInfo);
    assert.deepEqual(r2.names, ["c1", "c2"]);
    proxy.ack(r2);
    await eventually(() => h.statuses.length === 2);
    assert.equal(h.statuses[1]!.generation, gen3);
  });

  it("records a NACK, keeps the proxy on its ACKed config without a resend loop, then sends a fixed generation", async () => {
    const gen1 = h.source.set(f.cluster(h.source, "c1"));
    const proxy = h.sotw();
    proxy.request({ typeUrl: CDS });
    const r1 = await proxy.next();
    proxy.ack(r1);

    const nacksBefore = await counterValue(xdsNacks, "cds");
    const bad = f.cluster(h.source, "c1", "9s");
    const gen2 = h.source.set(bad);
    const r2 = await proxy.next();
    proxy.nack(r2, "cluster c1: bad connect_timeout", r1.versionInfo);
    await eventually(() => h.statuses.length === 2);
    assert.deepEqual(h.statuses[1], {
      proxyId: "proxy-1",
      typeUrl: CDS,
      generation: gen2,
      resourceNames: ["c1"],
      acked: false,
      errorDetail: "cluster c1: bad connect_timeout",
    });
    assert.equal(await counterValue(xdsNacks, "cds"), nacksBefore + 1);
    await proxy.expectNothing();

    // The same rejected content in a later generation is not sent again either.
    h.source.set(bad);
    await proxy.expectNothing();

    const [state] = h.server!.proxies();
    const cds = state!.types.find((t) => t.typeUrl === CDS)!;
    assert.equal(cds.lastAckedGeneration, gen1);
    assert.equal(cds.lastSentGeneration, gen2);
    assert.equal(cds.lastNack?.message, "cluster c1: bad connect_timeout");
    assert.equal(cds.lastNack?.generation, gen2);

    const gen4 = h.source.set(f.cluster(h.source, "c1", "2s"));
    const r3 = await proxy.next();
    assert.notEqual(r3.versionInfo, r2.versionInfo);
    proxy.ack(r3);
    await eventually(() => h.statuses.length === 3);
    assert.equal(h.statuses[2]!.acked, true);
    assert.equal(h.server!.proxies()[0]!.types.find((t) => t.typeUrl === CDS)!.lastAckedGeneration, gen4);
  });

  it("ignores a request with a stale nonce, even one carrying an error or a new subscription", async () => {
    h.source.set(f.cluster(h.source, "c1"));
    const proxy = h.sotw();
    proxy.request({ typeUrl: CDS });
    const r1 = await proxy.next();
    proxy.ack(r1);
    await eventually(() => h.statuses.length === 1);
    h.source.set(f.cluster(h.source, "c1", "3s"));
    const r2 = await proxy.next();

    const nacksBefore = await counterValue(xdsNacks, "cds");
    proxy.request({ typeUrl: CDS, responseNonce: r1.nonce, errorDetail: "late NACK of r1" });
    proxy.request({ typeUrl: CDS, responseNonce: r1.nonce, resourceNames: ["c1"] });
    await proxy.expectNothing();
    assert.equal(h.statuses.length, 1);
    assert.equal(await counterValue(xdsNacks, "cds"), nacksBefore);

    // The outstanding response is still answerable.
    proxy.ack(r2, []);
    await eventually(() => h.statuses.length === 2);
    assert.equal(h.statuses[1]!.acked, true);
  });

  it("sends a named EDS subscription only its names, and answers a subscription change that changes the set", async () => {
    h.source.set(f.endpoints(h.source, "a"), f.endpoints(h.source, "b"), f.endpoints(h.source, "c"));
    const proxy = h.sotw();
    proxy.request({ typeUrl: EDS, resourceNames: ["a", "missing"] });
    const r1 = await proxy.next();
    assert.deepEqual(r1.names, ["a"]);

    proxy.ack(r1, ["a", "c", "missing"]);
    const r2 = await proxy.next();
    assert.deepEqual(r2.names, ["a", "c"]);
    assert.notEqual(r2.versionInfo, r1.versionInfo);

    // Another name that does not exist leaves the set, and so the response, unchanged.
    proxy.ack(r2, ["a", "c", "missing", "also-missing"]);
    await proxy.expectNothing();

    // A change to a resource the proxy did not subscribe to is not pushed.
    h.source.set(
      f.endpoints(h.source, "a"),
      f.endpoints(h.source, "b", "10.9.9.9"),
      f.endpoints(h.source, "c"),
    );
    await proxy.expectNothing();

    proxy.request({
      typeUrl: EDS,
      resourceNames: ["b"],
      responseNonce: r2.nonce,
      versionInfo: r2.versionInfo,
    });
    const r3 = await proxy.next();
    assert.deepEqual(r3.names, ["b"]);
  });

  it("ends a wildcard when the proxy names, without '*', the same resources it named beside it", async () => {
    h.source.set(f.cluster(h.source, "c1"), f.cluster(h.source, "c2"), f.cluster(h.source, "c3"));
    const proxy = h.sotw();
    proxy.request({ typeUrl: CDS, resourceNames: ["*", "c1", "c2"] });
    const r1 = await proxy.next();
    assert.deepEqual(r1.names, ["c1", "c2", "c3"]);
    // An ACK repeating the named part alone: the set of names is the one the stream holds.
    proxy.ack(r1, ["c1", "c2"]);
    const r2 = await proxy.next();
    assert.deepEqual(r2.names, ["c1", "c2"]);
    proxy.ack(r2, ["c1", "c2"]);
    await proxy.expectNothing();
  });

  it("pushes only the changed endpoints of an unchanged EDS subscription, under the whole set's version", async () => {
    h.source.set(f.endpoints(h.source, "a"), f.endpoints(h.source, "b"), f.endpoints(h.source, "c"));
    const proxy = h.sotw();
    proxy.request({ typeUrl: EDS, resourceNames: ["a", "b", "c"] });
    const r1 = await proxy.next();
    assert.deepEqual(r1.names, ["a", "b", "c"]);
    proxy.ack(r1, ["a", "b", "c"]);

    const b2 = f.endpoints(h.source, "b", "10.7.7.7");
    h.source.set(f.endpoints(h.source, "a"), b2, f.endpoints(h.source, "c"));
    const r2 = await proxy.next();
    assert.deepEqual(r2.names, ["b"], "a and c are unchanged, and a left-out ClusterLoadAssignment is kept");
    assert.deepEqual(r2.resources[0]!.value, b2.bytes);
    const whole = h.sotw({ id: "proxy-2" });
    whole.request({ typeUrl: EDS, resourceNames: ["a", "b", "c"] });
    const full = await whole.next();
    assert.deepEqual(full.names, ["a", "b", "c"], "a new stream gets the whole set");
    assert.equal(r2.versionInfo, full.versionInfo, "the version names the content the proxy now holds");
    proxy.ack(r2, ["a", "b", "c"]);

    // Only a removal: nothing to carry, but the version moves on.
    h.source.set(f.endpoints(h.source, "a"), b2);
    const r3 = await proxy.next();
    assert.deepEqual(r3.names, []);
    assert.notEqual(r3.versionInfo, r2.versionInfo);
    proxy.ack(r3, ["a", "b", "c"]);
    await proxy.expectNothing();
  });

  it("pushes a change touching every type in the order CDS, EDS, SDS, LDS, RDS", async () => {
    const all = (timeout: string, ip: string, port: number) => [
      f.cluster(h.source, "c1", timeout),
      f.endpoints(h.source, "c1", ip),
      h.source.encode(SECRET, "s1", {
        name: "s1",
        validation_context: { trusted_ca: { inline_string: ip } },
      }),
      f.listener(h.source, "l1", port),
      f.route(h.source, "r1", `c1-${port}`),
    ];
    h.source.set(...all("1s", "10.0.0.1", 15001));
    const proxy = h.sotw();
    // Subscribed in the reverse order, so insertion order cannot pass for push order.
    for (const [type, names] of [
      [RDS, ["r1"]],
      [LDS, []],
      [SDS, ["s1"]],
      [EDS, ["c1"]],
      [CDS, []],
    ] as const) {
      proxy.request({ typeUrl: type, resourceNames: names });
      proxy.ack(await proxy.next());
    }
    await eventually(() => h.statuses.length === 5);

    h.source.set(...all("2s", "10.0.0.2", 15002));
    const order = [];
    for (let i = 0; i < 5; i++) order.push((await proxy.next()).typeUrl);
    assert.deepEqual(order, [CDS, EDS, SDS, LDS, RDS]);
  });

  it("removes a cluster only after the route that used it was updated (make before break)", async () => {
    h.source.set(f.cluster(h.source, "c1"), f.cluster(h.source, "c2"), f.route(h.source, "r1", "c2"));
    const proxy = h.sotw();
    proxy.request({ typeUrl: CDS });
    const cds1 = await proxy.next();
    proxy.ack(cds1);
    proxy.request({ typeUrl: RDS, resourceNames: ["r1"] });
    proxy.ack(await proxy.next());
    await eventually(() => h.statuses.length === 2);

    // c2 goes away, r1 moves to c3.
    h.source.set(f.cluster(h.source, "c1"), f.cluster(h.source, "c3"), f.route(h.source, "r1", "c3"));
    const cds2 = await proxy.next();
    assert.equal(cds2.typeUrl, CDS);
    assert.deepEqual(cds2.names, ["c1", "c2", "c3"], "the new cluster is added, the old one kept for now");
    const rds2 = await proxy.next();
    assert.equal(rds2.typeUrl, RDS);
    await proxy.expectNothing(100);

    proxy.ack(cds2);
    const cds3 = await proxy.next();
    assert.equal(cds3.typeUrl, CDS);
    assert.deepEqual(cds3.names, ["c1", "c3"]);
  });

  it("holds a cluster removal while a route update is owed because its previous response was unanswered", async () => {
    h.source.set(f.cluster(h.source, "c1"), f.cluster(h.source, "c2"), f.route(h.source, "r1", "c2"));
    const proxy = h.sotw();
    proxy.request({ typeUrl: CDS });
    proxy.ack(await proxy.next());
    proxy.request({ typeUrl: RDS, resourceNames: ["r1"] });
    const rds1 = await proxy.next(); // left unanswered for now
    await eventually(() => h.statuses.length === 1);

    h.source.set(f.cluster(h.source, "c1"), f.cluster(h.source, "c3"), f.route(h.source, "r1", "c3"));
    const cds2 = await proxy.next();
    assert.deepEqual(cds2.names, ["c1", "c2", "c3"]);
    proxy.ack(cds2);
    await proxy.expectNothing(200);

    proxy.ack(rds1);
    const rds2 = await proxy.next();
    assert.equal(rds2.typeUrl, RDS);
    const cds3 = await proxy.next();
    assert.equal(cds3.typeUrl, CDS);
    assert.deepEqual(cds3.names, ["c1", "c3"]);
  });

  it("answers an unknown type URL with an empty response and keeps serving other types", async () => {
    h.source.set(f.cluster(h.source, "c1"));
    const proxy = h.sotw();
    const unknown = "type.googleapis.com/example.v1.NoSuchThing";
    proxy.request({ typeUrl: unknown, resourceNames: ["x"] });
    const r1 = await proxy.next();
    assert.equal(r1.typeUrl, unknown);
    assert.deepEqual(r1.resources, []);
    proxy.ack(r1);

    proxy.request({ typeUrl: CDS });
    const r2 = await proxy.next();
    assert.deepEqual(r2.names, ["c1"]);
    proxy.ack(r2);
    h.source.set(f.cluster(h.source, "c1"), f.cluster(h.source, "c2"));
    const pushed = await proxy.next();
    assert.equal(pushed.typeUrl, CDS);
    assert.deepEqual(pushed.names, ["c1", "c2"]);
  });
});
