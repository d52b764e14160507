import assert from "node:assert/strict";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { toJson, type JsonValue } from "@bufbuild/protobuf";
import type { KubernetesObject } from "@kubernetes/client-node";
import { decodeMessage, envoyRegistry, messageType } from "../../src/xds/protos/registry.js";
import { DeltaClient, type DeltaResponse } from "../support/ads-client.js";
import { dynamicResources, envoyAdmin, envoyStat, envoyStats, type ResourceKind } from "./envoy-admin.js";
import {
  answeredBy,
  apply,
  clientPod,
  curl,
  deleteNamespace,
  fortioDeployment,
  listPods,
  log,
  meshCluster,
  meshNamespace,
  podByPrefix,
  service,
  skipUnlessSupported,
  trafficPolicy,
  VERSION_SUBSETS,
  waitFor,
  waitPodsReady,
  waitProgrammed,
} from "./kit.js";
import { AGENT_XDS_SOCKET } from "../../src/mesh/proxy.js";

/**
 * Envoy against Skiff, resource by resource. Skiff's side is taken from the
 * xDS server itself: a test ADS client (test/support/ads-client.ts) opens a
 * delta stream through the sidecar's own agent (its xDS proxy socket, which
 * carries it to the skiff-xds Service over TLS with the Pod's token, as it
 * does Envoy's), with the sidecar's node id, and records what the server sends. That is what the
 * server serves that node right now, through the same view, cache and
 * encoder as the sidecar's stream, with the same versions. Re-running
 * compile and translate in the test would only show that translate is
 * deterministic, and would not see a bug in the cache, the per-proxy view or
 * the server (nor give the versions).
 */

const NS = "e2e-config";

const CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
const ENDPOINT = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
const LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener";
const ROUTE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
const TYPES = [LISTENER, CLUSTER, ROUTE, ENDPOINT] as const;
type TypeUrl = (typeof TYPES)[number];
const SHORT: Record<TypeUrl, ResourceKind> = {
  [LISTENER]: "listeners",
  [CLUSTER]: "clusters",
  [ROUTE]: "routes",
  [ENDPOINT]: "endpoints",
};

/** One resource: its version (undefined where Envoy's dump has none) and its content as proto3 JSON with proto field names. */
interface Held {
  version: string | undefined;
  json: JsonValue;
}
type Resources = Map<TypeUrl, Map<string, Held>>;

/** The dynamic resources in a sidecar's config_dump (with EDS). */
async function envoyHolds(pod: string): Promise<Resources> {
  const dumped = await dynamicResources(NS, pod);
  return new Map(
    TYPES.map((type) => [
      type,
      new Map(
        Object.entries(dumped[SHORT[type]]).map(([name, { version, resource }]) => [
          name,
          { version, json: resource },
        ]),
      ),
    ]),
  );
}

/** The sidecar's node (id and cluster), as Envoy reports it. */
async function nodeOf(pod: string): Promise<{ id: string; cluster: string }> {
  const info = JSON.parse(await envoyAdmin(NS, pod, "/server_info")) as {
    node: { id: string; cluster: string };
  };
  return info.node;
}

function protoJson(typeUrl: string, value: Uint8Array): JsonValue {
  const name = typeUrl.slice(typeUrl.lastIndexOf("/") + 1);
  return toJson(messageType(name), decodeMessage(name, value), {
    registry: envoyRegistry(),
    useProtoFieldName: true,
  });
}

/**
 * What Skiff's xDS server serves a node: a delta stream subscribes as
 * Envoy does (wildcard CDS and LDS, then EDS for the EDS clusters and RDS
 * for the route configurations the listeners name), ACKs everything, and
 * keeps the first complete answer of each type.
 */
async function skiffServes(node: { id: string; cluster: string }, pod: string): Promise<Resources> {
  // The Pod's own agent carries the stream to the xDS server, over TLS with the Pod's token, as it does Envoy's.
  const agentDirectory = meshCluster().node.volumePath(NS, pod, "skiff-agent");
  assert.ok(agentDirectory, `${pod} has no agent volume`);
  // A socket path may be 107 bytes at most, and the Pod's folder is deep: dial it through a short link.
  const short = join(mkdtempSync(join(tmpdir(), "skiff-agent-")), "run");
  symlinkSync(agentDirectory, short);
  const client = new DeltaClient(`unix:${join(short, AGENT_XDS_SOCKET)}`, node);
  const served: Resources = new Map();
  const receive = async (typeUrl: TypeUrl) => {
    const response: DeltaResponse = await client.next(15_000).catch(async (error: unknown) => {
      // Say why: the stream may have ended (a refusal the agent relays) rather than gone quiet.
      const ended = await Promise.race([client.status, new Promise((r) => setTimeout(r, 100, undefined))]);
      throw new Error(
        `${String(error)}; the stream ${ended ? `ended: ${JSON.stringify(ended)}` : "is open"}`,
      );
    });
    assert.equal(response.typeUrl, typeUrl);
    assert.deepEqual(response.removedResources, []);
    const map = new Map<string, Held>();
    for (const r of response.resources)
      map.set(r.name, { version: r.version, json: protoJson(typeUrl, r.value) });
    served.set(typeUrl, map);
    client.ack(response);
    return map;
  };
  try {
    client.request({ typeUrl: CLUSTER });
    const clusters = await receive(CLUSTER);
    client.request({ typeUrl: LISTENER });
    const listeners = await receive(LISTENER);
    const eds = [...clusters.values()]
      .map((c) => c.json as { name: string; type?: string; eds_cluster_config?: { service_name?: string } })
      .filter((c) => c.type === "EDS")
      .map((c) => c.eds_cluster_config?.service_name || c.name);
    client.request({ typeUrl: ENDPOINT, subscribe: eds });
    await receive(ENDPOINT);
    const rds = new Set<string>();
    const collect = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(collect);
      else if (v && typeof v === "object")
        for (const [k, x] of Object.entries(v)) {
          if (k === "route_config_name" && typeof x === "string") rds.add(x);
          else collect(x);
        }
    };
    collect([...listeners.values()].map((l) => l.json));
    client.request({ typeUrl: ROUTE, subscribe: [...rds] });
    await receive(ROUTE);
    return served;
  } finally {
    client.close();
    rmSync(dirname(short), { recursive: true, force: true });
  }
}

/**
 * Envoy rebuilds the endpoints it dumps from its host sets, so it fills
 * three defaults that were not served: the policy's overprovisioning_factor
 * (140), each endpoint's load_balancing_weight (1) and an empty
 * health_check_config. They are added to the served assignment when absent;
 * nothing else is normalised anywhere.
 */
function withEnvoyEndpointDefaults(json: JsonValue): JsonValue {
  const cla = structuredClone(json) as {
    policy?: { overprovisioning_factor?: number };
    endpoints?: {
      lb_endpoints?: { load_balancing_weight?: number; endpoint?: { health_check_config?: object } }[];
    }[];
  };
  cla.policy = { ...cla.policy, overprovisioning_factor: cla.policy?.overprovisioning_factor ?? 140 };
  for (const locality of cla.endpoints ?? [])
    for (const lb of locality.lb_endpoints ?? []) {
      lb.load_balancing_weight ??= 1;
      if (lb.endpoint) lb.endpoint.health_check_config ??= {};
    }
  return cla as JsonValue;
}

interface Comparison {
  counts: Record<string, number>;
  problems: string[];
  /** Listeners whose content is the served one but whose version is older (see compare). */
  keptVersion: string[];
  envoy: Resources;
  served: Resources;
}

/**
 * Compares by name, content and version.
 *
 * - Endpoints carry no version in config_dump (see withEnvoyEndpointDefaults),
 *   and Envoy also dumps the host sets of clusters that do not use EDS (the
 *   ORIGINAL_DST passthroughs); endpoints are compared by content, for the
 *   EDS names served.
 * - A listener that Envoy updated in place (only its filter chains changed)
 *   keeps the version it was created with: ListenerImpl::newListenerWithFilterChain
 *   copies the old listener's version_info_. Such a listener, with the served
 *   content under an older version, is listed in `keptVersion` rather than
 *   as a problem; the caller checks it against Envoy's in-place update count.
 */
function compare(envoy: Resources, served: Resources): Comparison {
  const counts: Record<string, number> = {};
  const problems: string[] = [];
  const keptVersion: string[] = [];
  for (const type of TYPES) {
    const mine = envoy.get(type) ?? new Map<string, Held>();
    const theirs = served.get(type) ?? new Map<string, Held>();
    counts[SHORT[type]] = theirs.size;
    const names = new Set([...theirs.keys(), ...(type === ENDPOINT ? [] : mine.keys())]);
    for (const name of [...names].sort()) {
      const e = mine.get(name);
      const s = theirs.get(name);
      if (!e || !s) {
        problems.push(`${SHORT[type]} ${name}: ${e ? "only in Envoy" : "served but not in Envoy"}`);
        continue;
      }
      const expected = type === ENDPOINT ? withEnvoyEndpointDefaults(s.json) : s.json;
      const sameContent = isDeepStrictEqual(e.json, expected);
      if (!sameContent)
        problems.push(
          `${SHORT[type]} ${name}: content differs\n  envoy:  ${JSON.stringify(e.json)}\n  served: ${JSON.stringify(expected)}`,
        );
      if (type === ENDPOINT || e.version === s.version) continue;
      if (type === LISTENER && sameContent) keptVersion.push(name);
      else problems.push(`${SHORT[type]} ${name}: Envoy has version ${e.version}, served ${s.version}`);
    }
  }
  return { counts, problems, keptVersion, envoy, served };
}

/** Envoy's count of listeners it updated in place (filter chains only). */
async function inPlaceUpdates(pod: string): Promise<number> {
  return (await envoyStat(NS, pod, "listener_manager.listener_in_place_updated")) ?? 0;
}

/**
 * Reads both sides until they agree (at most `attempts` times: a push may
 * land between the two reads) and returns the last comparison. Listeners
 * that kept an older version count as problems when Envoy updated fewer
 * listeners in place than that.
 */
async function envoyMatchesSkiff(pod: string, attempts = 3): Promise<Comparison> {
  const node = await nodeOf(pod);
  let last: Comparison | undefined;
  for (let i = 0; i < attempts; i++) {
    const served = await skiffServes(node, pod);
    const envoy = await envoyHolds(pod);
    last = compare(envoy, served);
    const inPlace = await inPlaceUpdates(pod);
    if (last.keptVersion.length > inPlace)
      last.problems.push(
        `listeners ${last.keptVersion.join(", ")} have older versions, but Envoy updated only ${inPlace} in place`,
      );
    if (last.problems.length === 0) return last;
  }
  return last!;
}

/** The TrafficPolicy of reviews, with its subsets v1 and v2. */
function reviewsPolicy(spec: object): KubernetesObject {
  return trafficPolicy(NS, "reviews", { subsets: VERSION_SUBSETS, ...spec });
}

/** A rule set that exercises most of what translate writes into routes and clusters. */
const RICH = {
  http: [
    {
      name: "by-header",
      match: [{ headers: [{ name: "x-user", exact: "tester" }] }, { path: { regex: "/v2/.*" } }],
      rewrite: { uriPrefix: "/debug", authority: "reviews.internal" },
      headers: {
        request: { set: { "x-skiff-set": "one" }, add: { "x-skiff-added": "two" }, remove: ["x-drop-me"] },
        response: { set: { "x-answer": "skiff" } },
      },
      timeout: "5s",
      retries: { attempts: 3, perTryTimeout: "1s", retryOn: ["5xx", "reset"] },
      route: [{ subset: "v2" }],
    },
    {
      name: "canary",
      match: [{ path: { prefix: "/" }, queryParams: [{ name: "canary", present: true }] }],
      fault: { delay: { fixedDelay: "1ms", percent: 10 } },
      mirror: { subset: "v2", percent: 5 },
      route: [
        { subset: "v1", weight: 80 },
        { subset: "v2", weight: 20 },
      ],
    },
  ],
  loadBalancer: { algorithm: "RingHash", hash: { header: "x-user" } },
  connectionPool: {
    tcp: { maxConnections: 100, connectTimeout: "2s" },
    http: { maxPendingRequests: 64, maxRequests: 256, maxRetries: 3, idleTimeout: "1h" },
  },
  outlierDetection: {
    consecutive5xxErrors: 5,
    interval: "10s",
    baseEjectionTime: "30s",
    maxEjectionPercent: 50,
  },
  rateLimit: { local: { maxTokens: 1000, tokensPerFill: 1000, fillInterval: "1s" } },
};

/** The stats whose names match `filter`, by name. */
async function stats(pod: string, filter: string): Promise<Record<string, number>> {
  return Object.fromEntries(await envoyStats(NS, pod, filter));
}

const version = (r: Resources, type: TypeUrl, name: string) => r.get(type)?.get(name)?.version;

interface PolicyStatus {
  conditions?: {
    type: string;
    status: string;
    reason: string;
    message: string;
    observedGeneration?: number;
  }[];
  proxies?: { targeted?: number; acked?: number; nacked?: number; lastNackMessage?: string };
}

describe("what Envoy holds equals what Skiff served", function () {
  before(async function () {
    skipUnlessSupported(this);
    await meshNamespace(NS);
    await apply([
      fortioDeployment(NS, "reviews-v1", { labels: { app: "reviews", version: "v1" } }),
      fortioDeployment(NS, "reviews-v2", { labels: { app: "reviews", version: "v2" } }),
      service(NS, "reviews", [{ name: "http", port: 8080 }]),
      clientPod(NS),
    ]);
    await waitPodsReady(NS, 3);
  });
  after(() => deleteNamespace(NS));

  it("every listener, cluster, route and endpoint of a client and a server sidecar, by name, content and version", async () => {
    await apply([reviewsPolicy(RICH)]);
    await waitProgrammed(NS, "TrafficPolicy", "reviews");
    const reviews = (await podByPrefix(NS, "reviews-v1-")).metadata.name;
    for (const pod of ["client", reviews]) {
      const { counts, problems, keptVersion } = await envoyMatchesSkiff(pod);
      assert.deepEqual(problems, [], problems.join("\n"));
      log(
        `${pod}: ${JSON.stringify(counts)} equal; listeners updated in place: ${keptVersion.join(", ") || "none"}`,
      );
      assert.ok(
        counts.listeners! >= 5 && counts.clusters! >= 7 && counts.routes! >= 3 && counts.endpoints! >= 5,
      );
    }

    // A route change reaches Envoy as served: a new version of the route
    // configuration, every cluster unchanged.
    const route = `reviews.${NS}.svc.cluster.local:8080`;
    const before = await envoyMatchesSkiff("client");
    const simpler = { ...RICH, http: [{ name: "all-v1", route: [{ subset: "v1" }] }] };
    await apply([reviewsPolicy(simpler)]);
    await waitProgrammed(NS, "TrafficPolicy", "reviews");
    const after = await envoyMatchesSkiff("client");
    assert.deepEqual(after.problems, [], after.problems.join("\n"));
    assert.notEqual(version(after.served, ROUTE, route), version(before.served, ROUTE, route));
    for (const [name, held] of before.served.get(CLUSTER)!)
      assert.equal(version(after.served, CLUSTER, name), held.version, `cluster ${name} changed`);

    // A rate-limit change only changes virtualInbound's filter chains on the
    // server's sidecar: Envoy takes the served content in place and keeps
    // the listener's old version (see compare).
    const inPlace = await inPlaceUpdates(reviews);
    const old = await envoyMatchesSkiff(reviews);
    await apply([
      reviewsPolicy({
        ...simpler,
        rateLimit: { local: { maxTokens: 500, tokensPerFill: 500, fillInterval: "1s" } },
      }),
    ]);
    await waitProgrammed(NS, "TrafficPolicy", "reviews");
    const changed = await envoyMatchesSkiff(reviews);
    assert.deepEqual(changed.problems, [], changed.problems.join("\n"));
    assert.notEqual(
      version(changed.served, LISTENER, "virtualInbound"),
      version(old.served, LISTENER, "virtualInbound"),
    );
    assert.match(
      JSON.stringify(changed.envoy.get(LISTENER)!.get("virtualInbound")!.json),
      /"max_tokens":500/,
    );
    assert.equal(
      version(changed.envoy, LISTENER, "virtualInbound"),
      version(old.envoy, LISTENER, "virtualInbound"),
    );
    assert.equal(await inPlaceUpdates(reviews), inPlace + 1);
    log(
      `${reviews}: virtualInbound served ${version(changed.served, LISTENER, "virtualInbound")}, ` +
        `Envoy kept ${version(changed.envoy, LISTENER, "virtualInbound")} (in-place updates ${inPlace} -> ${inPlace + 1})`,
    );
  });

  it("a route Envoy rejects shows as Programmed=False/Nacked with Envoy's message; fixing it programs it", async () => {
    const route = `reviews.${NS}.svc.cluster.local:8080`;
    const routeStat = `.rds.${route.replace(":", "_")}.update_rejected`;
    // Which rule answered (a response header each rule sets) and which Pod (fortio's /debug names it).
    const who = async (path: string) => {
      const [response] = await curl(NS, "client", `http://reviews:8080${path}`);
      assert.equal(response!.status, 200, response!.body);
      return `${response!.headers["x-rule"]} ${answeredBy(response!.body) ?? "(echo)"}`;
    };
    const rule = (name: string) => ({ name, headers: { response: { set: { "x-rule": name } } } });
    await apply([reviewsPolicy({ http: [{ ...rule("v1"), route: [{ subset: "v1" }] }] })]);
    await waitProgrammed(NS, "TrafficPolicy", "reviews");
    const rejectedBefore = await stats("client", "update_rejected");
    const good = (await envoyHolds("client")).get(ROUTE)!.get(route)!;

    // A valid RE2 expression, accepted by the API server and by Skiff, whose
    // compiled program (149 instructions) is larger than Envoy's default
    // limit (the runtime key re2.max_program_size.error_level, 100). Skiff's
    // bootstrap raises the limit to what admission lets through, so every
    // sidecar here is set back to Envoy's default at runtime, as an operator
    // may tune it through the admin layer: Envoy then refuses the route.
    for (const pod of await listPods(NS))
      await envoyAdmin(NS, pod.metadata.name, "/runtime_modify?re2.max_program_size.error_level=100", "POST");
    const greek = (regex: string) =>
      reviewsPolicy({
        http: [
          {
            ...rule("greek"),
            match: [{ path: { regex } }],
            rewrite: { uriPrefix: "/debug" },
            route: [{ subset: "v2" }],
          },
          { ...rule("v1"), route: [{ subset: "v1" }] },
        ],
      });
    const regex = "^/(alpha|beta|gamma|delta|epsilon|zeta|eta|theta|iota|kappa)/[a-z0-9]{1,32}$";
    await apply([greek(regex)]);
    const [nacked] = await waitFor<KubernetesObject & { status?: PolicyStatus }>(
      meshCluster().kubeConfig,
      "skiff.dev/v1alpha1",
      "TrafficPolicy",
      NS,
      (policies) =>
        policies.some((p) => {
          const c = p.status?.conditions?.find((x) => x.type === "Programmed");
          return (
            c?.status === "False" && c.reason === "Nacked" && c.observedGeneration === p.metadata?.generation
          );
        }),
      120_000,
      "TrafficPolicy reviews Programmed=False/Nacked",
    );
    const condition = nacked!.status!.conditions!.find((c) => c.type === "Programmed")!;
    const proxies = nacked!.status!.proxies!;
    log(`Programmed=False/${condition.reason}: ${condition.message}`);
    log(`status.proxies: targeted ${proxies.targeted}, acked ${proxies.acked}, nacked ${proxies.nacked}`);
    const envoyText =
      `regex '${regex}' RE2 program size of 149 > max program size of 100 set for the error level threshold. ` +
      "Increase configured max program size if necessary.";
    assert.ok(condition.message.includes(envoyText), condition.message);
    assert.ok(proxies.lastNackMessage!.includes(envoyText), proxies.lastNackMessage);
    // Every sidecar (the client and both reviews Pods) gets reviews' routes, and all rejected them.
    assert.ok(proxies.targeted! >= 3, JSON.stringify(proxies));
    assert.equal(proxies.nacked, proxies.targeted);

    // Envoy counted the rejection and kept the route it had, and traffic
    // goes on under it. (A rejected delta RDS response counts on every RDS
    // subscription of the proxy, not only on the route that failed.)
    const rejected = await stats("client", "update_rejected");
    const grew = Object.keys(rejected).filter((k) => rejected[k]! > (rejectedBefore[k] ?? 0));
    log(`update_rejected grew: ${grew.map((k) => `${k}=${rejected[k]}`).join(", ")}`);
    const reviewsStat = Object.keys(rejected).find((k) => k.endsWith(routeStat));
    assert.ok(reviewsStat, JSON.stringify(rejected));
    assert.equal(rejected[reviewsStat], (rejectedBefore[reviewsStat] ?? 0) + 1);
    assert.deepEqual((await envoyHolds("client")).get(ROUTE)!.get(route), good);
    assert.equal(await who("/alpha/debug"), "v1 (echo)");

    // A program within the limit is accepted by every proxy.
    await apply([greek("^/(alpha|beta)/.*")]);
    await waitProgrammed(NS, "TrafficPolicy", "reviews");
    const held = (await envoyHolds("client")).get(ROUTE)!.get(route)!;
    assert.notEqual(held.version, good.version);
    assert.match(JSON.stringify(held.json), /\^\/\(alpha\|beta\)/);
    assert.deepEqual(await stats("client", "update_rejected"), rejected);
    assert.equal(await who("/alpha/debug"), "greek reviews-v2");
    assert.equal(await who("/debug"), "v1 reviews-v1");
  });

  it("header values reach the peer literally, % included (Envoy reads them as format strings)", async () => {
    const value = "100% of %HOSTNAME% at %START_TIME%";
    await apply([
      reviewsPolicy({
        http: [
          {
            name: "literal",
            headers: { request: { set: { "x-literal": value } }, response: { set: { "x-literal": value } } },
            route: [{ subset: "v1" }],
          },
        ],
      }),
    ]);
    await waitProgrammed(NS, "TrafficPolicy", "reviews");
    const [response] = await curl(NS, "client", "http://reviews:8080/debug");
    assert.equal(response!.status, 200, response!.body);
    assert.equal(response!.headers["x-literal"], value);
    // fortio's /debug echoes the request headers it received.
    assert.ok(response!.body.includes(`X-Literal: ${value}`), response!.body);
  });
});
