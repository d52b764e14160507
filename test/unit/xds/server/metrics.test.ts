import assert from "node:assert/strict";
import { registry, xdsConvergence } from "../../../../src/observability/metrics.js";
import { ConvergenceTracker } from "../../../../src/xds/convergence.js";
import { typeUrl } from "../../../../src/xds/protos/registry.js";
import { CLUSTER, LISTENER, fixtures as f } from "../../../support/fake-snapshot-source.js";
import { Harness, eventually } from "./harness.js";

const CDS = typeUrl(CLUSTER);
const LDS = typeUrl(LISTENER);

/**
 * The control plane's xDS metrics as Prometheus scrapes them (the registry's
 * text page), moved by real proxies' pushes, ACKs, NACKs and disconnections
 * on a real ADS server. The registry is the process's, so each check is of
 * the exact change since the test began.
 */
async function scrape(): Promise<Map<string, number>> {
  const page = await registry.metrics();
  const series = new Map<string, number>();
  for (const line of page.split("\n")) {
    const match = /^(skiff_xds_[a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (match) series.set(match[1]!, Number(match[2]));
  }
  return series;
}

/** What changed between two scrapes, for the series that did. */
function moved(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, value] of after) {
    const delta = value - (before.get(name) ?? 0);
    if (delta !== 0 && !name.includes("_bucket") && !name.includes("_sum")) out[name] = delta;
  }
  return out;
}

describe("control-plane metrics of the ADS server", () => {
  let h: Harness;
  afterEach(() => h.stop());

  it("counts pushes, ACKs and NACKs by type, and the proxies connected", async () => {
    h = await new Harness().start();
    h.source.set(f.cluster(h.source, "c1"), f.listener(h.source, "l1"));
    const start = await scrape();

    const proxy = h.sotw({ id: "proxy-a" });
    proxy.request({ typeUrl: CDS });
    const cds1 = await proxy.next();
    proxy.ack(cds1);
    proxy.request({ typeUrl: LDS });
    const lds1 = await proxy.next();
    proxy.ack(lds1);
    await eventually(() => h.statuses.length === 2);

    // One new cluster content the proxy rejects, then one it accepts; the listener is unchanged.
    h.source.set(f.cluster(h.source, "c1", "9s"), f.listener(h.source, "l1"));
    proxy.nack(await proxy.next(), "cluster c1: bad connect_timeout", cds1.versionInfo);
    await eventually(() => h.statuses.length === 3);
    h.source.set(f.cluster(h.source, "c1", "2s"), f.listener(h.source, "l1"));
    proxy.ack(await proxy.next());
    await eventually(() => h.statuses.length === 4);
    const connected = await scrape();

    proxy.close();
    await eventually(() => h.server!.proxies().length === 0);
    const closed = await scrape();

    assert.deepEqual(moved(start, connected), {
      'skiff_xds_pushes_total{type="cds"}': 3,
      'skiff_xds_pushes_total{type="lds"}': 1,
      'skiff_xds_acks_total{type="cds"}': 2,
      'skiff_xds_acks_total{type="lds"}': 1,
      'skiff_xds_nacks_total{type="cds"}': 1,
      skiff_xds_connected_proxies: 1,
      // One per new generation pushed to the proxy (its first request answers from the current one).
      skiff_xds_push_duration_seconds_count: 2,
    });
    assert.deepEqual(moved(connected, closed), { skiff_xds_connected_proxies: -1 });
  });

  it("observes convergence once, at the ACK of the last proxy to take the change", async () => {
    // Wired as skiff xds wires it (xds-server.ts): every answer checks the open generations.
    const convergence = new ConvergenceTracker((seconds) => xdsConvergence.observe(seconds));
    h = new Harness();
    await h.start({
      onResponseStatus: (status) => {
        h.statuses.push(status);
        convergence.check((generation) => h.server!.everyProxyRan(generation));
      },
    });
    h.source.set(f.cluster(h.source, "c1"));
    const [a, b] = [h.sotw({ id: "proxy-a" }), h.sotw({ id: "proxy-b" })];
    for (const proxy of [a, b]) {
      proxy.request({ typeUrl: CDS });
      proxy.ack(await proxy.next());
    }
    await eventually(() => h.statuses.length === 2);
    const start = await scrape();

    const generation = h.source.set(f.cluster(h.source, "c1", "3s"));
    convergence.started(generation, performance.now());
    const [fromA, fromB] = [await a.next(), await b.next()];
    a.ack(fromA);
    await eventually(() => h.statuses.length === 3);
    assert.deepEqual(moved(start, await scrape()), {
      'skiff_xds_pushes_total{type="cds"}': 2,
      'skiff_xds_acks_total{type="cds"}': 1,
      skiff_xds_push_duration_seconds_count: 2,
    });
    b.ack(fromB);
    await eventually(() => h.statuses.length === 4);
    assert.deepEqual(moved(start, await scrape()), {
      'skiff_xds_pushes_total{type="cds"}': 2,
      'skiff_xds_acks_total{type="cds"}': 2,
      skiff_xds_push_duration_seconds_count: 2,
      skiff_xds_convergence_seconds_count: 1,
    });
  });
});
