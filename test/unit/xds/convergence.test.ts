import assert from "node:assert/strict";
import { typeUrl } from "../../../src/xds/protos/registry.js";
import { ConvergenceTracker } from "../../../src/xds/convergence.js";
import { CLUSTER, LISTENER, fixtures as f } from "../../support/fake-snapshot-source.js";
import { Harness, eventually } from "./server/harness.js";

const CDS = typeUrl(CLUSTER);
const LDS = typeUrl(LISTENER);

describe("ConvergenceTracker", () => {
  /** A mesh whose proxies have all run `lowest` or newer. */
  const ranUpTo = (lowest: number) => (generation: number) => lowest >= generation;

  it("reports a generation once every proxy runs it, with older open ones", () => {
    const reported: number[] = [];
    const tracker = new ConvergenceTracker((seconds) => reported.push(seconds));
    tracker.started(1, performance.now());
    tracker.started(2, performance.now());
    tracker.check(ranUpTo(-1));
    assert.equal(reported.length, 0);
    tracker.check(ranUpTo(1));
    assert.equal(reported.length, 1);
    tracker.check(ranUpTo(2));
    assert.equal(reported.length, 2);
    assert.ok(reported.every((s) => s >= 0 && s < 5));
  });

  it("asks the proxies nothing while no generation is open (it runs on every ACK), and only up to the first not run", () => {
    const tracker = new ConvergenceTracker(() => undefined);
    const asked: number[] = [];
    const ask = (generation: number) => {
      asked.push(generation);
      return false;
    };
    tracker.check(ask);
    assert.deepEqual(asked, []);
    tracker.started(3, performance.now());
    tracker.started(4, performance.now());
    tracker.check(ask);
    assert.deepEqual(asked, [3], "a proxy that has not run 3 has not run 4");
  });

  it("closes every open generation when no proxy is connected", () => {
    const reported: number[] = [];
    const tracker = new ConvergenceTracker((seconds) => reported.push(seconds));
    tracker.started(4, performance.now());
    tracker.check(() => undefined);
    tracker.check(ranUpTo(10));
    assert.deepEqual(reported, []);
  });
});

describe("convergence on a real ADS server", () => {
  let h: Harness;
  afterEach(() => h.stop());

  it("observes a generation at the ACK that brings the last proxy to it, while a newer push is in flight", async () => {
    // Wired as skiff xds wires it (xds-server.ts): every answer checks the open generations.
    const reported: { generation: number; seconds: number }[] = [];
    let open: number[] = [];
    const convergence = new ConvergenceTracker((seconds) =>
      reported.push({ generation: open.shift()!, seconds }),
    );
    const started = (generation: number) => {
      open.push(generation);
      convergence.started(generation, performance.now());
    };
    h = new Harness();
    await h.start({
      onResponseStatus: (status) => {
        h.statuses.push(status);
        convergence.check((generation) => h.server!.everyProxyRan(generation));
      },
    });
    h.source.set(f.cluster(h.source, "c1"), f.listener(h.source, "l1"));
    // A takes clusters and listeners, B clusters only.
    const [a, b] = [h.sotw({ id: "proxy-a" }), h.sotw({ id: "proxy-b" })];
    for (const type of [CDS, LDS]) {
      a.request({ typeUrl: type });
      a.ack(await a.next());
    }
    b.request({ typeUrl: CDS });
    b.ack(await b.next());
    await eventually(() => h.statuses.length === 3);

    // Generation 1 changes the cluster: both get it; A takes it at once.
    const first = h.source.set(f.cluster(h.source, "c1", "3s"), f.listener(h.source, "l1"));
    started(first);
    const [clusterForA, clusterForB] = [await a.next(), await b.next()];
    a.ack(clusterForA);
    await eventually(() => h.statuses.length === 4);
    // Generation 2 changes only the listener: A is sent it, B is owed nothing new.
    const second = h.source.set(f.cluster(h.source, "c1", "3s"), f.listener(h.source, "l1", 15002));
    started(second);
    const listenerForA = await a.next();
    assert.equal(listenerForA.typeUrl, LDS);

    // B's ACK of the cluster is the last ACK of generation 1: every proxy has run it (A runs 1 or 2).
    const ackedAt = performance.now();
    b.ack(clusterForB);
    await eventually(() => h.statuses.length === 5);
    assert.deepEqual(
      reported.map((r) => r.generation),
      [first],
      "generation 1 at B's ACK, though A has generation 2 in flight",
    );
    const waited = (performance.now() - ackedAt) / 1000;
    await new Promise((resolve) => setTimeout(resolve, 200));
    a.ack(listenerForA);
    await eventually(() => h.statuses.length === 6);
    assert.deepEqual(
      reported.map((r) => r.generation),
      [first, second],
    );
    // Generation 1's time ends at B's ACK, not at the later one of A (200 ms after).
    assert.ok(reported[0]!.seconds < waited + 0.15, `${reported[0]!.seconds} s`);
    assert.ok(reported[1]!.seconds >= 0.2, `${reported[1]!.seconds} s`);
    open = [];
  });

  it("moves on while pushes keep coming: each type counts from the last response of it the proxy ACKed", async () => {
    const reported: number[] = [];
    const convergence = new ConvergenceTracker((seconds) => reported.push(seconds));
    h = new Harness();
    await h.start({
      onResponseStatus: (status) => {
        h.statuses.push(status);
        convergence.check((generation) => h.server!.everyProxyRan(generation));
      },
    });
    h.source.set(f.cluster(h.source, "c1"), f.listener(h.source, "l1"));
    const a = h.sotw({ id: "proxy-a" });
    for (const type of [CDS, LDS]) {
      a.request({ typeUrl: type });
      a.ack(await a.next());
    }
    await eventually(() => h.statuses.length === 2);
    // Generation 1 changes both; the proxy takes the cluster, then generation 2 changes the cluster again.
    const first = h.source.set(f.cluster(h.source, "c1", "3s"), f.listener(h.source, "l1", 15002));
    convergence.started(first, performance.now());
    const [cluster1, listener1] = [await a.next(), await a.next()];
    assert.deepEqual([cluster1.typeUrl, listener1.typeUrl], [CDS, LDS]);
    a.ack(cluster1);
    await eventually(() => h.statuses.length === 3);
    const second = h.source.set(f.cluster(h.source, "c1", "4s"), f.listener(h.source, "l1", 15002));
    convergence.started(second, performance.now());
    const cluster2 = await a.next();
    // The listener of generation 1 ACKed: the proxy runs generation 1 of both types, though generation 2's cluster is in flight.
    a.ack(listener1);
    await eventually(() => h.statuses.length === 4);
    assert.equal(reported.length, 1, "generation 1 converged");
    a.ack(cluster2);
    await eventually(() => h.statuses.length === 5);
    assert.equal(reported.length, 2, "generation 2 converged");
  });

  it("counts a proxy that connects while a generation is open", async () => {
    const reported: number[] = [];
    const convergence = new ConvergenceTracker((seconds) => reported.push(seconds));
    h = new Harness();
    await h.start({
      onResponseStatus: (status) => {
        h.statuses.push(status);
        convergence.check((generation) => h.server!.everyProxyRan(generation));
      },
    });
    h.source.set(f.cluster(h.source, "c1"));
    const a = h.sotw({ id: "proxy-a" });
    a.request({ typeUrl: CDS });
    a.ack(await a.next());
    await eventually(() => h.statuses.length === 1);

    convergence.started(h.source.set(f.cluster(h.source, "c1", "3s")), performance.now());
    const pushed = await a.next();
    const b = h.sotw({ id: "proxy-b" });
    b.request({ typeUrl: CDS });
    const first = await b.next();
    a.ack(pushed);
    await eventually(() => h.statuses.length === 2);
    assert.deepEqual(reported, [], "B has not run the generation yet");
    b.ack(first);
    await eventually(() => h.statuses.length === 3);
    assert.equal(reported.length, 1);
  });
});
