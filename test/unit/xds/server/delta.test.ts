import assert from "node:assert/strict";
import { xdsNacks } from "../../../../src/observability/metrics.js";
import { typeUrl } from "../../../../src/xds/protos/registry.js";
import { CLUSTER, ENDPOINTS, fixtures as f } from "../../../support/fake-snapshot-source.js";
import { Harness, counterValue, eventually } from "./harness.js";

const CDS = typeUrl(CLUSTER);
const EDS = typeUrl(ENDPOINTS);

describe("ADS server, incremental (delta)", () => {
  let h: Harness;
  beforeEach(async () => (h = await new Harness().start()));
  afterEach(() => h.stop());

  it("sends every resource with its version to a wildcard subscription on connect", async () => {
    const c1 = f.cluster(h.source, "c1");
    const c2 = f.cluster(h.source, "c2");
    const gen = h.source.set(c1, c2);
    const proxy = h.delta();
    proxy.request({ typeUrl: CDS });
    const r = await proxy.next();
    assert.equal(r.typeUrl, CDS);
    assert.deepEqual(
      r.resources.map((x) => [x.name, x.version, x.typeUrl]),
      [
        ["c1", c1.version, CDS],
        ["c2", c2.version, CDS],
      ],
    );
    assert.deepEqual(r.resources[1]!.value, c2.bytes);
    assert.deepEqual(r.removedResources, []);
    assert.equal(r.systemVersionInfo, String(gen));
    proxy.ack(r);
    await eventually(() => h.statuses.length === 1);
    assert.deepEqual(h.statuses[0], {
      proxyId: "proxy-1",
      typeUrl: CDS,
      generation: gen,
      resourceNames: ["c1", "c2"],
      acked: true,
    });
  });

  it("sends only changed resources on a change, and removals after the additions", async () => {
    h.source.set(f.cluster(h.source, "c0"), f.cluster(h.source, "c1"), f.cluster(h.source, "c2"));
    const proxy = h.delta();
    proxy.request({ typeUrl: CDS, subscribe: ["*"] });
    const r1 = await proxy.next();
    proxy.ack(r1);

    const c1b = f.cluster(h.source, "c1", "4s");
    h.source.set(f.cluster(h.source, "c0"), c1b, f.cluster(h.source, "c3"));
    const r2 = await proxy.next();
    assert.deepEqual(r2.names, ["c1", "c3"], "c0 is unchanged and not resent");
    assert.equal(r2.resources[0]!.version, c1b.version);
    assert.deepEqual(r2.removedResources, [], "c2's removal waits for the additions to be answered");
    assert.notEqual(r2.nonce, r1.nonce);
    proxy.ack(r2);
    const r3 = await proxy.next();
    assert.deepEqual(r3.names, []);
    assert.deepEqual(r3.removedResources, ["c2"]);
    proxy.ack(r3);

    // A change that only removes is sent at once.
    h.source.set(f.cluster(h.source, "c0"), c1b);
    const r4 = await proxy.next();
    assert.deepEqual(r4.names, []);
    assert.deepEqual(r4.removedResources, ["c3"]);
    proxy.ack(r4);
    await proxy.expectNothing();
  });

  it("on reconnect with initial_resource_versions, resends nothing unchanged and removes what is gone", async () => {
    const c1 = f.cluster(h.source, "c1");
    const c2 = f.cluster(h.source, "c2", "2s");
    h.source.set(c1, c2, f.cluster(h.source, "c3"));

    const proxy = h.delta();
    proxy.request({
      typeUrl: CDS,
      initialResourceVersions: { c1: c1.version, c2: "an-old-version", gone: "v1" },
    });
    const r = await proxy.next();
    assert.deepEqual(r.names, ["c2", "c3"]);
    assert.deepEqual(r.removedResources, ["gone"]);

    const again = h.delta({ id: "proxy-2" });
    again.request({
      typeUrl: CDS,
      subscribe: ["*"],
      initialResourceVersions: { c1: c1.version, c2: c2.version },
    });
    const up = await again.next();
    assert.deepEqual(up.names, ["c3"]);
    assert.deepEqual(up.removedResources, []);

    const current = h.delta({ id: "proxy-3" });
    current.request({
      typeUrl: CDS,
      initialResourceVersions: Object.fromEntries(
        r.resources.map((x) => [x.name, x.version!]).concat([["c1", c1.version]]),
      ),
    });
    const nothing = await current.next();
    assert.deepEqual(
      [nothing.names, nothing.removedResources],
      [[], []],
      "an empty answer ends the initial fetch",
    );
  });

  it("does not answer a reconnecting named subscription that has every current version, until something changes", async () => {
    const a = f.endpoints(h.source, "a");
    const b = f.endpoints(h.source, "b");
    h.source.set(a, b);
    const proxy = h.delta();
    proxy.request({
      typeUrl: EDS,
      subscribe: ["a", "b"],
      initialResourceVersions: { a: a.version, b: b.version },
    });
    await proxy.expectNothing();

    const b2 = f.endpoints(h.source, "b", "10.3.3.3");
    h.source.set(a, b2);
    const r = await proxy.next();
    assert.deepEqual(r.names, ["b"]);
    assert.equal(r.resources[0]!.version, b2.version);

    const stale = h.delta({ id: "proxy-2" });
    stale.request({
      typeUrl: EDS,
      subscribe: ["a", "b"],
      initialResourceVersions: { a: a.version, b: b.version },
    });
    assert.deepEqual((await stale.next()).names, ["b"], "an outdated version is answered at once");
  });

  it("serves named subscriptions: absent names are reported removed, unsubscribed ones are no longer pushed", async () => {
    h.source.set(f.endpoints(h.source, "a"), f.endpoints(h.source, "b"));
    const proxy = h.delta();
    proxy.request({ typeUrl: EDS, subscribe: ["a", "missing"] });
    const r1 = await proxy.next();
    assert.deepEqual(r1.names, ["a"]);
    assert.deepEqual(r1.removedResources, ["missing"]);

    proxy.request({ typeUrl: EDS, subscribe: ["b"], responseNonce: r1.nonce });
    const r2 = await proxy.next();
    assert.deepEqual(r2.names, ["b"]);
    assert.deepEqual(r2.removedResources, [], "missing was already reported");

    proxy.request({ typeUrl: EDS, unsubscribe: ["a"], responseNonce: r2.nonce });
    h.source.set(f.endpoints(h.source, "a", "10.1.1.1"), f.endpoints(h.source, "b"));
    await proxy.expectNothing();

    h.source.set(
      f.endpoints(h.source, "a", "10.1.1.1"),
      f.endpoints(h.source, "b"),
      f.endpoints(h.source, "missing"),
    );
    const r3 = await proxy.next();
    assert.deepEqual(r3.names, ["missing"], "a name reported absent is sent once it exists");
  });

  it("a proxy in line with named resources that turns to the wildcard gets the rest, and loses it again on '*' unsubscribe", async () => {
    h.source.set(f.cluster(h.source, "c1"), f.cluster(h.source, "c2"), f.cluster(h.source, "c3"));
    const proxy = h.delta();
    proxy.request({ typeUrl: CDS, subscribe: ["c1"] });
    const r1 = await proxy.next();
    assert.deepEqual(r1.names, ["c1"]);
    proxy.ack(r1);
    await proxy.expectNothing();

    proxy.request({ typeUrl: CDS, subscribe: ["*"] });
    const r2 = await proxy.next();
    assert.deepEqual(r2.names, ["c2", "c3"], "the proxy had only c1");
    proxy.ack(r2);

    proxy.request({ typeUrl: CDS, unsubscribe: ["*"] });
    await proxy.expectNothing();
    h.source.set(f.cluster(h.source, "c1", "7s"), f.cluster(h.source, "c2", "7s"));
    const r3 = await proxy.next();
    assert.deepEqual(r3.names, ["c1"], "only the named cluster is still followed");
    assert.deepEqual(r3.removedResources, []);
    proxy.ack(r3);
    await proxy.expectNothing();
  });

  it("under a wildcard, keeps pushing a resource unsubscribed by name, and pushes each change once", async () => {
    h.source.set(f.cluster(h.source, "c1"), f.cluster(h.source, "c2"));
    const proxy = h.delta();
    proxy.request({ typeUrl: CDS, subscribe: ["*", "c1"] });
    const r1 = await proxy.next();
    assert.deepEqual(r1.names, ["c1", "c2"]);
    proxy.ack(r1);
    proxy.request({ typeUrl: CDS, unsubscribe: ["c1"] });
    await proxy.expectNothing();

    h.source.set(f.cluster(h.source, "c1", "9s"), f.cluster(h.source, "c2"));
    const r2 = await proxy.next();
    assert.deepEqual(r2.names, ["c1"]);
    proxy.ack(r2);
    h.source.set(f.cluster(h.source, "c1", "9s"), f.cluster(h.source, "c2"), f.cluster(h.source, "c3"));
    const r3 = await proxy.next();
    assert.deepEqual(r3.names, ["c3"], "c1's change is not sent again");
    proxy.ack(r3);
    await proxy.expectNothing();
  });

  it("resends the unchanged endpoints of a changed cluster: Envoy warms the new cluster on them without asking", async () => {
    const e1 = f.endpoints(h.source, "c1");
    const e2 = f.endpoints(h.source, "c2");
    h.source.set(f.cluster(h.source, "c1"), f.cluster(h.source, "c2"), e1, e2);
    const proxy = h.delta();
    proxy.request({ typeUrl: CDS, subscribe: ["*"] });
    proxy.ack(await proxy.next());
    proxy.request({ typeUrl: EDS, subscribe: ["c1", "c2"] });
    const eds1 = await proxy.next();
    assert.deepEqual(eds1.names, ["c1", "c2"]);
    proxy.ack(eds1);
    await proxy.expectNothing();

    // Only c1's cluster changes. Envoy replaces it with a warming cluster
    // that waits for c1's ClusterLoadAssignment (initial_fetch_timeout,
    // 15 s by default), and its subscription did not change, so it asks for nothing.
    h.source.set(f.cluster(h.source, "c1", "4s"), f.cluster(h.source, "c2"), e1, e2);
    const cds2 = await proxy.next();
    assert.deepEqual([cds2.typeUrl, cds2.names], [CDS, ["c1"]]);
    const eds2 = await proxy.next();
    assert.deepEqual([eds2.typeUrl, eds2.names], [EDS, ["c1"]], "c1's endpoints follow its cluster");
    assert.equal(eds2.resources[0]!.version, e1.version);
    proxy.ack(cds2);
    proxy.ack(eds2);
    await proxy.expectNothing();

    // The same when the cluster goes out after a pending CDS response is answered.
    h.source.set(f.cluster(h.source, "c1", "4s"), f.cluster(h.source, "c2", "5s"), e1, e2);
    const cds3 = await proxy.next();
    const eds3 = await proxy.next();
    assert.deepEqual([cds3.names, eds3.names], [["c2"], ["c2"]]);
    proxy.ack(eds3);
    await proxy.expectNothing();
    h.source.set(f.cluster(h.source, "c1", "6s"), f.cluster(h.source, "c2", "5s"), e1, e2);
    await proxy.expectNothing();
    proxy.ack(cds3);
    const cds4 = await proxy.next();
    const eds4 = await proxy.next();
    assert.deepEqual([cds4.typeUrl, cds4.names], [CDS, ["c1"]]);
    assert.deepEqual([eds4.typeUrl, eds4.names], [EDS, ["c1"]]);
    proxy.ack(cds4);
    proxy.ack(eds4);
    await proxy.expectNothing();
  });

  it("records a NACK without resending the rejected versions, and sends the next change", async () => {
    h.source.set(f.cluster(h.source, "c1"));
    const proxy = h.delta();
    proxy.request({ typeUrl: CDS });
    proxy.ack(await proxy.next());

    const nacksBefore = await counterValue(xdsNacks, "cds");
    const gen2 = h.source.set(f.cluster(h.source, "c1", "7s"));
    const r2 = await proxy.next();
    proxy.nack(r2, "rejected c1");
    await eventually(() => h.statuses.length === 2);
    assert.deepEqual(h.statuses[1], {
      proxyId: "proxy-1",
      typeUrl: CDS,
      generation: gen2,
      resourceNames: ["c1"],
      acked: false,
      errorDetail: "rejected c1",
    });
    assert.equal(await counterValue(xdsNacks, "cds"), nacksBefore + 1);
    await proxy.expectNothing();

    h.source.set(f.cluster(h.source, "c1", "8s"));
    const r3 = await proxy.next();
    assert.deepEqual(r3.names, ["c1"]);
    assert.notEqual(r3.resources[0]!.version, r2.resources[0]!.version);
  });

  it("keeps a proxy holding exactly what it subscribes to of each snapshot, through random changes", async function () {
    this.timeout(60_000);
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
    const names = (prefix: string) => [0, 1, 2, 3, 4, 5].map((i) => `${prefix}${i}`);
    const snapshot = () =>
      h.source.set(
        ...names("c")
          .filter(() => random() < 0.7)
          .map((n) => f.cluster(h.source, n, pick(["1s", "2s"]))),
        ...names("c")
          .filter(() => random() < 0.7)
          .map((n) => f.endpoints(h.source, n, pick(["10.0.0.1", "10.0.0.2"]))),
      );
    /** What the proxy holds, by type: name → version, from the responses it applied. */
    const holds = new Map([
      [CDS, new Map<string, string>()],
      [EDS, new Map<string, string>()],
    ]);
    let endpointNames = new Set(["c0", "c2", "c4", "missing"]);
    const expected = (type: string, wildcard: boolean, subscribed: ReadonlySet<string>) =>
      [...(h.source.snapshotFor({ id: "x", cluster: "", metadata: {} }).resources.get(type) ?? new Map())]
        .filter(([name]) => wildcard || subscribed.has(name))
        .map(([name, r]) => `${name}@${r.version}`)
        .sort();
    const held = (type: string) => [...holds.get(type)!].map(([name, v]) => `${name}@${v}`).sort();
    const holding = () => JSON.stringify([held(CDS), held(EDS)]);
    const shouldHold = () =>
      JSON.stringify([expected(CDS, true, new Set()), expected(EDS, false, endpointNames)]);
    const inLine = () => holding() === shouldHold();

    snapshot();
    const proxy = h.delta();
    proxy.request({ typeUrl: CDS, subscribe: ["*"] });
    proxy.request({ typeUrl: EDS, subscribe: [...endpointNames] });
    for (let round = 0; round < 40; round++) {
      while (!inLine()) {
        const response = await proxy.next().catch((error: Error) => {
          throw new Error(
            `${error.message} in round ${round}: holds ${holding()}, should hold ${shouldHold()}`,
          );
        });
        const typeHolds = holds.get(response.typeUrl)!;
        // A response sent before an unsubscribe reached the server may carry what is no longer
        // subscribed: a proxy (Envoy's watch map) ignores it.
        const wanted = (name: string) => response.typeUrl === CDS || endpointNames.has(name);
        for (const r of response.resources) if (wanted(r.name)) typeHolds.set(r.name, r.version ?? "");
        for (const name of response.removedResources) typeHolds.delete(name);
        proxy.ack(response);
      }
      if (round % 5 === 4) {
        // A new subscription: the stream compares resource by resource once, then is in line again.
        const next = new Set(names("c").filter(() => random() < 0.5));
        const unsubscribe = [...endpointNames].filter((n) => !next.has(n));
        for (const name of unsubscribe) holds.get(EDS)!.delete(name);
        proxy.request({ typeUrl: EDS, subscribe: [...next], unsubscribe });
        endpointNames = next;
      } else {
        snapshot();
      }
    }
  });
});
