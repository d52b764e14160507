import assert from "node:assert/strict";
import {
  dumpedCluster,
  endpointHealth,
  envoyAdmin,
  envoyStat,
  eventually,
  waitForEndpointCounts,
} from "./envoy-admin.js";
import {
  answeringPod,
  apply,
  clientPod,
  curlEach,
  deleteNamespace,
  fortioDeployment,
  listPods,
  meshNamespace,
  programTrafficPolicy,
  service,
  skipUnlessSupported,
  tally,
  waitPodsReady,
  type CurlResult,
} from "./kit.js";
import { fortioLoad } from "./load.js";

const NS = "e2e-lb";
const HOST = (name: string) => `${name}.${NS}.svc.cluster.local`;
/** The client sidecar's outbound cluster for a Service's port 8080 (Istio's naming). */
const CLUSTER = (name: string) => `outbound|8080||${HOST(name)}`;

/**
 * Applies a TrafficPolicy and waits until every sidecar concerned runs it.
 * A changed cluster must not have waited out Envoy's initial fetch timeout
 * (15 s) for its endpoints: Skiff sends them again with the cluster.
 */
async function program(target: string, spec: object): Promise<void> {
  await programTrafficPolicy(NS, target, spec);
  assert.equal(
    await stat("client", `cluster.${CLUSTER(target)}.init_fetch_timeout`),
    0,
    `the client's cluster for ${target} warmed only after Envoy's initial fetch timeout`,
  );
}

// ---------------------------------------------------------------------------

/** The Pod that answered a fortio /debug request, or its status when it was not answered. */
function replica(response: CurlResult): string {
  const pod = answeringPod(response.body);
  return response.status === 200 && pod ? pod : `status ${response.status}`;
}

/** A counter or gauge of a sidecar, by its full name (0 when Envoy has not created it). */
const stat = async (pod: string, name: string) => (await envoyStat(NS, pod, name)) ?? 0;

interface PodSummary {
  name: string;
  ip: string;
  app: string;
}

async function pods(): Promise<PodSummary[]> {
  return (await listPods(NS)).map((p) => ({
    name: p.metadata.name,
    ip: p.status?.podIP ?? "",
    app: p.metadata.labels?.app ?? "",
  }));
}

/** fortio load from a Pod, as fast as it goes; its JSON result's RetCodes (status → count). */
async function loadRetCodes(pod: string, args: string[], url: string): Promise<Record<string, number>> {
  const result = await fortioLoad(NS, pod, ["-qps", "0", "-allow-initial-errors", ...args, url], {
    timeoutMs: 120_000,
  });
  return result.RetCodes ?? {};
}

// ---------------------------------------------------------------------------

describe("load balancing and resilience through Envoy sidecars", function () {
  const LB_REPLICAS = 3;

  before(async function () {
    skipUnlessSupported(this);
    await meshNamespace(NS);
    // The rate-limited backend is probed over TCP: an HTTP probe goes through
    // its inbound sidecar, like any request, and would spend the tokens.
    const quota = fortioDeployment(NS, "quota") as {
      spec: { template: { spec: { containers: { readinessProbe: object }[] } } };
    };
    quota.spec.template.spec.containers[0]!.readinessProbe = { tcpSocket: { port: 8080 }, periodSeconds: 1 };
    await apply([
      fortioDeployment(NS, "lb", { replicas: LB_REPLICAS, args: ["-max-echo-delay", "5s"] }),
      service(NS, "lb", [{ name: "http", port: 8080 }]),
      fortioDeployment(NS, "reviews-good", { labels: { app: "reviews", role: "good" } }),
      fortioDeployment(NS, "reviews-bad", {
        labels: { app: "reviews", role: "bad" },
        args: ["-echo-server-default-params", "status=503"],
      }),
      service(NS, "reviews", [{ name: "http", port: 8080 }]),
      quota,
      service(NS, "quota", [{ name: "http", port: 8080 }]),
      clientPod(NS),
    ]);
    await waitPodsReady(NS, LB_REPLICAS + 2 + 1 + 1);
    // Ready is not yet in the caller's EDS: the spreads count every replica.
    await waitForEndpointCounts(NS, "client", {
      [CLUSTER("lb")]: LB_REPLICAS,
      [CLUSTER("reviews")]: 2,
      [CLUSTER("quota")]: 1,
    });
  });
  after(() => deleteNamespace(NS));

  const lbReplicas = async () =>
    (await pods())
      .filter((p) => p.app === "lb")
      .map((p) => p.name)
      .sort();

  /** The lb_policy of the client's cluster for lb (config_dump omits ROUND_ROBIN, proto3's default). */
  const lbPolicy = async () =>
    ((await dumpedCluster(NS, "client", CLUSTER("lb"))).lb_policy as string) ?? "ROUND_ROBIN";

  /** 300 sequential requests to lb; the count per replica. */
  async function spread(): Promise<Record<string, number>> {
    const responses = await curlEach(
      NS,
      "client",
      Array.from({ length: 300 }, () => ({ url: "http://lb:8080/debug" })),
    );
    return tally(responses.map(replica));
  }

  it("RoundRobin spreads 300 requests evenly over 3 replicas (each 100 ± 10)", async () => {
    await program("lb", { loadBalancer: { algorithm: "RoundRobin" } });
    assert.equal(await lbPolicy(), "ROUND_ROBIN");
    const counts = await spread();
    console.log("      RoundRobin:", JSON.stringify(counts));
    assert.deepEqual(Object.keys(counts).sort(), await lbReplicas(), JSON.stringify(counts));
    for (const [pod, n] of Object.entries(counts))
      assert.ok(Math.abs(n - 100) <= 10, `${pod} got ${n} of 300, want 100 ± 10: ${JSON.stringify(counts)}`);
  });

  for (const algorithm of ["Random", "LeastRequest"] as const) {
    it(`${algorithm} spreads 300 requests over all 3 replicas (each at least 60, expected 100)`, async () => {
      await program("lb", { loadBalancer: { algorithm } });
      assert.equal(await lbPolicy(), algorithm === "Random" ? "RANDOM" : "LEAST_REQUEST");
      const counts = await spread();
      console.log(`      ${algorithm}:`, JSON.stringify(counts));
      assert.deepEqual(Object.keys(counts).sort(), await lbReplicas(), JSON.stringify(counts));
      // Binomial(300, 1/3): sd 8.2, so 60 is 4.9 sd below the mean.
      for (const [pod, n] of Object.entries(counts))
        assert.ok(n >= 60, `${pod} got ${n} of 300, want at least 60: ${JSON.stringify(counts)}`);
    });
  }

  /**
   * Sends `perKey` requests for each of `keys` keys (interleaved, so a key's
   * requests are not consecutive) and checks that each key always lands on
   * one replica and that the keys use at least 2 replicas. Returns key → replica.
   */
  async function assertSticky(
    what: string,
    request: (key: string) => { url: string; args?: string[] },
    keys = 24,
    perKey = 4,
  ): Promise<Map<string, string>> {
    const names = Array.from({ length: keys }, (_, i) => `user-${i}`);
    const order = Array.from({ length: perKey }, () => names).flat();
    const responses = await curlEach(NS, "client", order.map(request));
    const seen = new Map<string, Set<string>>();
    order.forEach((key, i) => {
      const set = seen.get(key) ?? new Set<string>();
      set.add(replica(responses[i]!));
      seen.set(key, set);
    });
    const split = [...seen].filter(([, set]) => set.size !== 1);
    assert.deepEqual(
      split.map(([key, set]) => `${key} → ${[...set].join(", ")}`),
      [],
      `${what}: every key must stick to one replica`,
    );
    const owner = new Map([...seen].map(([key, set]) => [key, [...set][0]!]));
    const used = tally([...owner.values()]);
    console.log(`      ${what}: ${keys} keys × ${perKey} requests; keys per replica ${JSON.stringify(used)}`);
    for (const pod of Object.keys(used)) assert.match(pod, /^lb-/, `${what}: ${JSON.stringify(used)}`);
    assert.ok(Object.keys(used).length >= 2, `${what}: ${keys} keys all went to one replica`);
    return owner;
  }

  for (const algorithm of ["RingHash", "Maglev"] as const) {
    it(`${algorithm} on a header: each x-user value sticks to one replica, values spread`, async () => {
      await program("lb", { loadBalancer: { algorithm, hash: { header: "x-user" } } });
      assert.equal(await lbPolicy(), algorithm === "RingHash" ? "RING_HASH" : "MAGLEV");
      await assertSticky(`${algorithm} header`, (key) => ({
        url: "http://lb:8080/debug",
        args: ["-H", `x-user: ${key}`],
      }));
    });
  }

  it("RingHash on a query parameter: each ?id= value sticks to one replica, values spread", async () => {
    await program("lb", { loadBalancer: { algorithm: "RingHash", hash: { queryParam: "id" } } });
    await assertSticky("RingHash queryParam", (key) => ({ url: `http://lb:8080/debug?id=${key}` }));
  });

  it("Maglev on a cookie: each cookie value sticks; without one, Envoy sets a cookie that sticks", async () => {
    await program("lb", {
      loadBalancer: { algorithm: "Maglev", hash: { cookie: { name: "skiff-session", ttl: "60s" } } },
    });
    await assertSticky("Maglev cookie", (key) => ({
      url: "http://lb:8080/debug",
      args: ["-H", `Cookie: skiff-session=${key}`],
    }));

    const [first] = await curlEach(NS, "client", [{ url: "http://lb:8080/debug" }]);
    const setCookie = first!.headers["set-cookie"] ?? "";
    const value = /^skiff-session=("?[^";]+"?)/.exec(setCookie)?.[1];
    assert.ok(value, `no skiff-session cookie was set: ${JSON.stringify(first!.headers)}`);
    assert.match(setCookie, /Max-Age=60/i);
    const again = await curlEach(
      NS,
      "client",
      Array.from({ length: 10 }, () => ({
        url: "http://lb:8080/debug",
        args: ["-H", `Cookie: skiff-session=${value}`],
      })),
    );
    console.log(
      `      generated cookie ${setCookie}: first ${replica(first!)}, then`,
      tally(again.map(replica)),
    );
    assert.deepEqual(tally(again.map(replica)), { [replica(first!)]: 10 });
  });

  it("RingHash on the source IP: each client Pod sticks to one replica, clients spread", async () => {
    await program("lb", { loadBalancer: { algorithm: "RingHash", hash: { sourceIP: true } } });
    // Every Pod of the namespace has a sidecar and its own IP: each is a client here.
    const clients = (await pods()).map((p) => p.name).sort();
    const owner = new Map<string, string>();
    for (const client of clients) {
      const responses = await curlEach(
        NS,
        client,
        Array.from({ length: 6 }, () => ({ url: "http://lb:8080/debug" })),
      );
      const counts = tally(responses.map(replica));
      assert.equal(Object.keys(counts).length, 1, `${client} was not sticky: ${JSON.stringify(counts)}`);
      assert.match(Object.keys(counts)[0]!, /^lb-/, `${client}: ${JSON.stringify(counts)}`);
      owner.set(client, Object.keys(counts)[0]!);
    }
    const used = tally([...owner.values()]);
    console.log(
      `      RingHash sourceIP: ${clients.length} clients × 6 requests; clients per replica ${JSON.stringify(used)}`,
    );
    assert.ok(Object.keys(used).length >= 2, `all ${clients.length} clients went to one replica`);
  });

  it("a connection pool limit overflows into 503s (Envoy's pending overflow), and none without it", async () => {
    const url = "http://lb:8080/echo?delay=1s";
    const load = ["-c", "8", "-n", "16"];
    await program("lb", { loadBalancer: { algorithm: "RoundRobin" } });
    assert.equal((await dumpedCluster(NS, "client", CLUSTER("lb"))).circuit_breakers, undefined);
    const unlimited = await loadRetCodes("client", load, url);
    console.log("      without limits:", JSON.stringify(unlimited));
    assert.deepEqual(unlimited, { "200": 16 });

    await program("lb", {
      connectionPool: { http: { maxRequests: 1, maxPendingRequests: 1 }, tcp: { maxConnections: 1 } },
    });
    assert.deepEqual((await dumpedCluster(NS, "client", CLUSTER("lb"))).circuit_breakers, {
      thresholds: [{ max_connections: 1, max_pending_requests: 1, max_requests: 1 }],
    });
    // Envoy fails a request past max_requests (upstream_rq_active_overflow)
    // or past max_pending_requests (upstream_rq_pending_overflow) with a 503.
    const overflowStats = ["upstream_rq_pending_overflow", "upstream_rq_active_overflow"].map(
      (name) => `cluster.${CLUSTER("lb")}.${name}`,
    );
    const overflowCounts = async () => Promise.all(overflowStats.map((name) => stat("client", name)));
    const before = await overflowCounts();
    const limited = await loadRetCodes("client", load, url);
    const after = await overflowCounts();
    const [pending, active] = after.map((n, i) => n - before[i]!) as [number, number];
    console.log(
      "      with limits:",
      JSON.stringify(limited),
      `overflows: pending +${pending}, active +${active}`,
    );
    assert.deepEqual(Object.keys(limited).sort(), ["200", "503"], JSON.stringify(limited));
    assert.equal(limited["200"]! + limited["503"]!, 16);
    assert.ok(pending >= 1, "no request overflowed the pending queue");
    // Every 503 is an overflow (fortio's warm-up requests, not counted in its result, may overflow too).
    assert.ok(
      pending + active >= limited["503"]!,
      `${pending + active} overflows for ${limited["503"]} 503s`,
    );
  });

  it("outlier detection ejects the failing endpoint and traffic moves to the healthy one", async () => {
    await program("reviews", {
      // No retries: a 503 from the failing endpoint reaches the client, so it is seen.
      http: [{ name: "all", route: [{ weight: 100 }], retries: { attempts: 0 } }],
      outlierDetection: {
        consecutive5xxErrors: 2,
        interval: "1s",
        baseEjectionTime: "30s",
        maxEjectionPercent: 100,
      },
    });
    const all = await pods();
    const bad = all.find((p) => p.name.startsWith("reviews-bad-"))!;
    const ejected = `cluster.${CLUSTER("reviews")}.outlier_detection.ejections_active`;
    assert.equal(await stat("client", ejected), 0);

    // Traffic is what makes Envoy eject: send some until it has.
    const before: CurlResult[] = [];
    await eventually(
      "the failing reviews endpoint to be ejected",
      async () => {
        before.push(
          ...(await curlEach(NS, "client", [
            { url: "http://reviews:8080/echo" },
            { url: "http://reviews:8080/echo" },
          ])),
        );
        return (await stat("client", ejected)) >= 1 ? true : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    const statusesBefore = tally(before.map((r) => String(r.status)));
    assert.ok((statusesBefore["503"] ?? 0) >= 2, `before the ejection: ${JSON.stringify(statusesBefore)}`);

    const flags = [...(await endpointHealth(NS, "client", CLUSTER("reviews")))];
    const flagged = flags.filter(([, health]) => health.includes("failed_outlier_check"));
    assert.deepEqual(
      flagged.map(([address]) => address),
      [`${bad.ip}:8080`],
      `health flags:\n${flags.map(([address, health]) => `${address} ${health}`).join("\n")}`,
    );

    const after = await curlEach(
      NS,
      "client",
      Array.from({ length: 40 }, () => ({ url: "http://reviews:8080/debug" })),
    );
    const whoAfter = tally(after.map((r) => replica(r).replace(/-[a-z0-9]{6,10}-[a-z0-9]{5}$/, "")));
    console.log(
      `      before the ejection ${JSON.stringify(statusesBefore)}; ejected ${bad.ip} (${bad.name}); after:`,
      JSON.stringify(whoAfter),
    );
    assert.deepEqual(whoAfter, { "reviews-good": 40 });
  });

  it("a local rate limit answers 429 past its burst (5 × 200 then 15 × 429 of 20)", async () => {
    await program("quota", { rateLimit: { local: { maxTokens: 5, tokensPerFill: 5, fillInterval: "60s" } } });
    const responses = await curlEach(
      NS,
      "client",
      Array.from({ length: 20 }, () => ({ url: "http://quota:8080/debug" })),
    );
    const statuses = responses.map((r) => r.status);
    console.log("      rate limited:", JSON.stringify(tally(statuses.map(String))));
    assert.deepEqual(statuses, [...Array<number>(5).fill(200), ...Array<number>(15).fill(429)]);
    const quotaPod = (await pods()).find((p) => p.app === "quota")!.name;
    const limited = await envoyAdmin(NS, quotaPod, "/stats?filter=rate_limited");
    assert.match(limited, /\.http_local_rate_limit\.rate_limited: 15$/m, limited);
  });
});
