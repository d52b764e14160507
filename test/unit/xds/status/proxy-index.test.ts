import assert from "node:assert/strict";
import { proxyIdentity } from "../../../../src/xds/node.js";
import type { Nack, ProxyState, ProxyTypeStatus } from "../../../../src/xds/server/proxy-state.js";
import type { Programming } from "../../../../src/xds/status/programming.js";
import { ProxyIndex } from "../../../../src/xds/status/proxy-index.js";
import { CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE } from "../../../../src/xds/translate/resource.js";

const ENDPOINT_TYPE = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";

/**
 * The counts as the definition says, one proxy at a time (what the status
 * writer did on every pass before the index): the reference the index is
 * held to.
 */
function counted(proxies: readonly ProxyState[], targets: (p: ProxyState) => boolean, generation: number) {
  let targeted = 0;
  let proxyless = 0;
  let acked = 0;
  let nacked = 0;
  let lastNack: Nack | undefined;
  for (const proxy of proxies) {
    const standing = proxy.types.flatMap((t) =>
      t.lastNack && t.lastNack.generation >= (t.lastAckedGeneration ?? -1) ? [t.lastNack] : [],
    );
    if (proxy.ranGeneration === undefined && standing.length === 0) continue;
    if (!targets(proxy)) continue;
    targeted += 1;
    if (proxyIdentity(proxy.node).kind === "proxyless") proxyless += 1;
    const nack = standing.find((n) => n.generation >= generation);
    if (nack) {
      nacked += 1;
      if (!lastNack || nack.at > lastNack.at) lastNack = nack;
    } else if ((proxy.ranGeneration ?? -1) >= generation) acked += 1;
  }
  return {
    targeted,
    proxyless,
    acked,
    nacked,
    lastNackMessage: lastNack?.message ?? "",
  } satisfies Programming;
}

/** A small deterministic generator (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("ProxyIndex", () => {
  it("counts as the proxy-by-proxy definition does, over random meshes, subscriptions, NACKs and generations", () => {
    const next = random(18);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
    const names = Array.from({ length: 12 }, (_, i) => `svc-${i}.ns.svc.cluster.local:80`);
    // Lists shared between proxies, as the server shares one sorted list per subscription.
    const lists = Array.from({ length: 5 }, () => names.filter(() => next() < 0.3));
    const workloads = ["ns/a", "ns/b", "ns/c", "other/d"];
    const seen = { targeted: 0, acked: 0, nacked: 0, proxyless: 0, byWorkload: 0 };
    for (let mesh = 0; mesh < 40; mesh++) {
      const proxies: ProxyState[] = Array.from({ length: 1 + Math.floor(next() * 30) }, (_, i) => {
        const workload = pick(workloads);
        const [namespace, name] = workload.split("/") as [string, string];
        const types: ProxyTypeStatus[] = [LISTENER_TYPE, ROUTE_TYPE, CLUSTER_TYPE, ENDPOINT_TYPE]
          .filter(() => next() < 0.7)
          .map((typeUrl) => {
            const lastAckedGeneration = next() < 0.8 ? Math.floor(next() * 8) : undefined;
            const nackGeneration = Math.floor(next() * 9);
            return {
              typeUrl,
              awaitingAnswer: false,
              wildcard: next() < 0.15,
              names: pick(lists),
              ...(lastAckedGeneration === undefined ? {} : { lastAckedGeneration }),
              ...(next() < 0.2
                ? {
                    lastNack: {
                      generation: nackGeneration,
                      version: "v",
                      message: `nack ${mesh}/${i}/${typeUrl}`,
                      // Distinct times: the reference and the index pick the latest NACK.
                      at: new Date(1_800_000_000_000 + mesh * 1000 + i * 10 + nackGeneration),
                    },
                  }
                : {}),
            };
          });
        const ranGeneration = next() < 0.85 ? Math.floor(next() * 8) : undefined;
        return {
          streamId: i,
          protocol: "sotw",
          node: {
            // Proxies of one Pod (reconnecting) share a workload.
            id: `sidecar~10.0.0.${i}~${name}.${namespace}~${namespace}.svc.cluster.local`,
            cluster: "",
            metadata: next() < 0.2 ? { GENERATOR: "grpc" } : { GENERATOR: "envoy" },
          },
          peer: "",
          connectedAt: new Date(0),
          types,
          ...(ranGeneration === undefined ? {} : { ranGeneration }),
        } satisfies ProxyState;
      });
      const index = new ProxyIndex(proxies);
      for (let policy = 0; policy < 20; policy++) {
        const generation = Math.floor(next() * 9);
        const service = new Set(names.filter(() => next() < 0.15));
        const subscribes = (p: ProxyState) =>
          p.types
            .filter((t) => [LISTENER_TYPE, ROUTE_TYPE, CLUSTER_TYPE].includes(t.typeUrl))
            .some((t) => t.wildcard || t.names?.some((n) => service.has(n)));
        const expected = counted(proxies, subscribes, generation);
        assert.deepEqual(
          index.ofService(service, generation),
          expected,
          `mesh ${mesh}, policy ${policy}: a Service`,
        );
        for (const key of ["targeted", "acked", "nacked", "proxyless"] as const) seen[key] += expected[key];
        const selected = new Set(workloads.filter(() => next() < 0.4));
        const ofWorkload = (p: ProxyState) => selected.has(proxyIdentity(p.node).workload ?? "");
        const expectedOfWorkloads = counted(proxies, ofWorkload, generation);
        assert.deepEqual(
          index.ofWorkloads(selected, generation),
          expectedOfWorkloads,
          `mesh ${mesh}, policy ${policy}: workloads`,
        );
        seen.byWorkload += expectedOfWorkloads.targeted;
      }
    }
    // The random meshes exercise every count, not only zeros.
    assert.ok(
      Object.values(seen).every((n) => n > 50),
      JSON.stringify(seen),
    );
  });
});
