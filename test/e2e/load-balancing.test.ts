import assert from "node:assert/strict";
import { fortioBinary } from "../../src/localnode/tools.js";
import {
  apply,
  clientPod,
  deleteNamespace,
  exec,
  fortioDeployment,
  meshNamespace,
  rest,
  service,
  skipUnlessSupported,
  tally,
  waitPodsReady,
  waitProgrammed,
} from "./kit.js";

const NS = "e2e-lb";
const HOST = (name: string) => `${name}.${NS}.svc.cluster.local`;
/** The client sidecar's outbound cluster for a Service's port 8080 (Istio's naming). */
const CLUSTER = (name: string) => `outbound|8080||${HOST(name)}`;

function policy(target: string, spec: object): object {
  return {
    apiVersion: "skiff.dev/v1alpha1",
    kind: "TrafficPolicy",
    metadata: { name: target, namespace: NS },
    spec: { targetRef: { kind: "Service", name: target }, ...spec },
  };
}

/**
 * Applies a TrafficPolicy and waits until every sidecar concerned runs it.
 * A changed cluster must not have waited out Envoy's initial fetch timeout
 * (15 s) for its endpoints: Skiff sends them again with the cluster.
 */
async function program(target: string, spec: object): Promise<void> {
  await apply([policy(target, spec)]);
  await waitProgrammed(NS, "TrafficPolicy", target);
  assert.equal(
    await stat("client", `cluster.${CLUSTER(target)}.init_fetch_timeout`),
    0,
    `the client's cluster for ${target} warmed only after Envoy's initial fetch timeout`,
  );
}

// ---------------------------------------------------------------------------
// Helpers beyond kit.ts (generic; candidates for the kit).

interface Response {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends requests with one curl from a Pod (one connection where HTTP allows),
 * each with its own arguments, unlike kit's `curl` whose requests all share them.
 */
async function curlEach(pod: string, requests: { url: string; args?: string[] }[]): Promise<Response[]> {
  const separator = "=====SKIFF-E2E-LB=====";
  const argv = ["curl"];
  requests.forEach((r, i) =>
    argv.push(
      ...(i > 0 ? ["--next"] : []),
      "-s",
      "-i",
      "-m",
      "10",
      ...(r.args ?? []),
      "-w",
      separator,
      r.url,
    ),
  );
  const result = await exec(NS, pod, argv, { timeoutMs: 120_000 });
  if (result.code !== 0 && !result.stdout) throw new Error(`curl exited ${result.code}: ${result.stderr}`);
  const parts = result.stdout.split(separator).slice(0, requests.length);
  assert.equal(parts.length, requests.length, `curl answered ${parts.length} of ${requests.length}`);
  return parts.map(parseHttp);
}

function parseHttp(raw: string): Response {
  const blocks = raw.split(/\r\n\r\n/);
  let index = 0;
  while (/^HTTP\/\S+ 1\d\d/.test(blocks[index] ?? "") && index < blocks.length - 1) index++;
  const [statusLine, ...headerLines] = (blocks[index] ?? "").split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const status = Number(/^HTTP\/\S+ (\d{3})/.exec(statusLine ?? "")?.[1] ?? 0);
  return { status, headers, body: blocks.slice(index + 1).join("\r\n\r\n") };
}

/** The Pod (not just the Deployment, as kit's answeredBy) that answered a fortio /debug request. */
function replica(response: Response): string {
  const pod = / on ([a-z0-9-]+-[a-z0-9]{6,10}-[a-z0-9]{5})\b/.exec(response.body)?.[1];
  return response.status === 200 && pod ? pod : `status ${response.status}`;
}

/** GET on the Envoy admin of a Pod's sidecar (run as the proxy's uid, so not captured). */
async function admin(pod: string, path: string): Promise<string> {
  const result = await exec(NS, pod, ["curl", "-s", "-f", `http://127.0.0.1:15000${path}`], {
    container: "skiff-proxy",
  });
  if (result.code !== 0)
    throw new Error(`admin ${path} on ${pod}: curl exited ${result.code}: ${result.stderr}`);
  return result.stdout;
}

/** A counter or gauge of a sidecar, by its full name (0 when Envoy has not created it). */
async function stat(pod: string, name: string): Promise<number> {
  const text = await admin(pod, `/stats?filter=${encodeURIComponent(`^${escapeRegex(name)}$`)}`);
  const line = text.split("\n").find((l) => l.startsWith(`${name}: `));
  return line ? Number(line.slice(name.length + 2)) : 0;
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The dynamic cluster of a sidecar's config_dump, by name. */
async function dumpedCluster(pod: string, name: string): Promise<Record<string, unknown>> {
  const dump = JSON.parse(await admin(pod, "/config_dump?resource=dynamic_active_clusters")) as {
    configs: { cluster: Record<string, unknown> & { name: string } }[];
  };
  const found = dump.configs.find((c) => c.cluster.name === name);
  if (!found) throw new Error(`${pod}'s sidecar has no cluster ${name}`);
  return found.cluster;
}

/**
 * Calls `attempt` until it returns a value (not undefined), every
 * `intervalMs`, for at most `timeoutMs`; then fails saying what it waited for.
 */
async function poll<T>(
  what: string,
  attempt: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await attempt();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

interface PodSummary {
  name: string;
  ip: string;
  app: string;
}

async function pods(): Promise<PodSummary[]> {
  const list = await rest().request<{
    items: { metadata: { name: string; labels?: Record<string, string> }; status: { podIP?: string } }[];
  }>("GET", `/api/v1/namespaces/${NS}/pods`);
  return list.items.map((p) => ({
    name: p.metadata.name,
    ip: p.status.podIP ?? "",
    app: p.metadata.labels?.app ?? "",
  }));
}

/** fortio load from a Pod; its JSON result's RetCodes (status → count). */
async function fortioLoad(pod: string, args: string[], url: string): Promise<Record<string, number>> {
  const fortio = await fortioBinary({ build: false });
  const result = await exec(
    NS,
    pod,
    [fortio, "load", "-qps", "0", "-allow-initial-errors", "-json", "-", ...args, url],
    { timeoutMs: 120_000 },
  );
  const json = result.stdout.slice(result.stdout.indexOf("{"));
  let parsed: { RetCodes?: Record<string, number> };
  try {
    parsed = JSON.parse(json) as typeof parsed;
  } catch {
    throw new Error(`fortio load exited ${result.code} without JSON: ${result.stdout}\n${result.stderr}`);
  }
  return parsed.RetCodes ?? {};
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
  });
  after(() => deleteNamespace(NS));

  const lbReplicas = async () =>
    (await pods())
      .filter((p) => p.app === "lb")
      .map((p) => p.name)
      .sort();

  /** The lb_policy of the client's cluster for lb (config_dump omits ROUND_ROBIN, proto3's default). */
  const lbPolicy = async () =>
    ((await dumpedCluster("client", CLUSTER("lb"))).lb_policy as string) ?? "ROUND_ROBIN";

  /** 300 sequential requests to lb; the count per replica. */
  async function spread(): Promise<Record<string, number>> {
    const responses = await curlEach(
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
    const responses = await curlEach("client", order.map(request));
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

    const [first] = await curlEach("client", [{ url: "http://lb:8080/debug" }]);
    const setCookie = first!.headers["set-cookie"] ?? "";
    const value = /^skiff-session=("?[^";]+"?)/.exec(setCookie)?.[1];
    assert.ok(value, `no skiff-session cookie was set: ${JSON.stringify(first!.headers)}`);
    assert.match(setCookie, /Max-Age=60/i);
    const again = await curlEach(
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
    assert.equal((await dumpedCluster("client", CLUSTER("lb"))).circuit_breakers, undefined);
    const unlimited = await fortioLoad("client", load, url);
    console.log("      without limits:", JSON.stringify(unlimited));
    assert.deepEqual(unlimited, { "200": 16 });

    await program("lb", {
      connectionPool: { http: { maxRequests: 1, maxPendingRequests: 1 }, tcp: { maxConnections: 1 } },
    });
    assert.deepEqual((await dumpedCluster("client", CLUSTER("lb"))).circuit_breakers, {
      thresholds: [{ max_connections: 1, max_pending_requests: 1, max_requests: 1 }],
    });
    // Envoy fails a request past max_requests (upstream_rq_active_overflow)
    // or past max_pending_requests (upstream_rq_pending_overflow) with a 503.
    const overflowStats = ["upstream_rq_pending_overflow", "upstream_rq_active_overflow"].map(
      (name) => `cluster.${CLUSTER("lb")}.${name}`,
    );
    const overflowCounts = async () => Promise.all(overflowStats.map((name) => stat("client", name)));
    const before = await overflowCounts();
    const limited = await fortioLoad("client", load, url);
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
    const before: Response[] = [];
    await poll("the failing reviews endpoint to be ejected", async () => {
      before.push(
        ...(await curlEach("client", [
          { url: "http://reviews:8080/echo" },
          { url: "http://reviews:8080/echo" },
        ])),
      );
      return (await stat("client", ejected)) >= 1 ? true : undefined;
    });
    const statusesBefore = tally(before.map((r) => String(r.status)));
    assert.ok((statusesBefore["503"] ?? 0) >= 2, `before the ejection: ${JSON.stringify(statusesBefore)}`);

    const clusters = await admin("client", "/clusters");
    const flags = clusters
      .split("\n")
      .filter((l) => l.startsWith(`${CLUSTER("reviews")}::`) && l.includes("::health_flags::"));
    const flagged = flags.filter((l) => l.includes("failed_outlier_check"));
    assert.deepEqual(
      flagged.map((l) => l.split("::")[1]),
      [`${bad.ip}:8080`],
      `health flags:\n${flags.join("\n")}`,
    );

    const after = await curlEach(
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
      "client",
      Array.from({ length: 20 }, () => ({ url: "http://quota:8080/debug" })),
    );
    const statuses = responses.map((r) => r.status);
    console.log("      rate limited:", JSON.stringify(tally(statuses.map(String))));
    assert.deepEqual(statuses, [...Array<number>(5).fill(200), ...Array<number>(15).fill(429)]);
    const quotaPod = (await pods()).find((p) => p.app === "quota")!.name;
    const limited = await admin(quotaPod, "/stats?filter=rate_limited");
    assert.match(limited, /\.http_local_rate_limit\.rate_limited: 15$/m, limited);
  });
});
