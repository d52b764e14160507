import assert from "node:assert/strict";
import { readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";
import type { KubernetesObject } from "@kubernetes/client-node";
import { podNetworkNamespace } from "../../src/localnode/exec.js";
import { NETNS_DIR } from "../../src/localnode/netns.js";
import { fortioBinary } from "../../src/localnode/tools.js";
import {
  apply,
  clientPod,
  condition,
  curl,
  deleteNamespace,
  exec,
  fortioDeployment,
  meshCluster,
  meshNamespace,
  rest,
  service,
  skipUnlessSupported,
  waitFor,
  waitPodsReady,
  waitProgrammed,
} from "./kit.js";

/**
 * Faults in the data plane and the control plane: a sidecar's Envoy killed
 * with SIGKILL, and the xDS server killed while traffic flows.
 */

const NS = "e2e-faults";
const XDS_NAMESPACE = "skiff-system";
const ECHO_CLUSTER = `outbound|8080||echo.${NS}.svc.cluster.local`;

interface ContainerStatus {
  name: string;
  ready: boolean;
  restartCount: number;
  lastState?: { terminated?: { exitCode: number } };
}
type Pod = KubernetesObject & { status?: { containerStatuses?: ContainerStatus[] } };

function containerStatus(pod: Pod, container: string): ContainerStatus | undefined {
  return pod.status?.containerStatuses?.find((c) => c.name === container);
}

function log(line: string): void {
  process.stdout.write(`      ${line}\n`);
}

/** A request to the sidecar's admin endpoint (127.0.0.1:15000 in the Pod's netns), as the proxy's uid. */
async function envoyAdmin(pod: string, path: string): Promise<string> {
  const result = await exec(NS, pod, ["curl", "-sf", `http://127.0.0.1:15000${path}`], {
    container: "skiff-proxy",
    timeoutMs: 10_000,
  });
  if (result.code !== 0) throw new Error(`admin ${path} on ${pod}: curl exited ${result.code}`);
  return result.stdout;
}

async function stat(pod: string, name: string): Promise<number | undefined> {
  const exact = `^${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`;
  const text = await envoyAdmin(pod, `/stats?filter=${encodeURIComponent(exact)}`);
  const m = new RegExp(`${exact.slice(0, -1)}: (\\d+)$`, "m").exec(text);
  return m ? Number(m[1]) : undefined;
}

/**
 * The xDS resources a sidecar holds, by type and name: version and content
 * (config_dump with EDS, without the times of last update, which a restart
 * changes by definition).
 */
async function dynamicConfig(pod: string): Promise<Record<string, Record<string, unknown>>> {
  const dump = JSON.parse(await envoyAdmin(pod, "/config_dump?include_eds")) as {
    configs: Record<string, unknown[] | string>[];
  };
  const section = (type: string) => dump.configs.find((c) => c["@type"] === `type.googleapis.com/${type}`)!;
  type Entry = Record<string, Record<string, unknown> & { name: string; cluster_name: string }> & {
    version_info?: string;
    name: string;
  };
  const entries = (type: string, field: string) => (section(type)[field] ?? []) as Entry[];
  const byName = <T>(list: T[], name: (t: T) => string, value: (t: T) => unknown) =>
    Object.fromEntries(list.map((t) => [name(t), value(t)] as const).sort(([a], [b]) => (a < b ? -1 : 1)));
  return {
    listeners: byName(
      entries("envoy.admin.v3.ListenersConfigDump", "dynamic_listeners"),
      (l) => l.name,
      (l) => ({ version: l.active_state!.version_info, listener: l.active_state!.listener }),
    ),
    clusters: byName(
      entries("envoy.admin.v3.ClustersConfigDump", "dynamic_active_clusters"),
      (c) => c.cluster!.name,
      (c) => ({ version: c.version_info, cluster: c.cluster }),
    ),
    routes: byName(
      entries("envoy.admin.v3.RoutesConfigDump", "dynamic_route_configs"),
      (r) => r.route_config!.name,
      (r) => ({ version: r.version_info, routes: r.route_config }),
    ),
    endpoints: byName(
      entries("envoy.admin.v3.EndpointsConfigDump", "dynamic_endpoint_configs"),
      (e) => e.endpoint_config!.cluster_name,
      (e) => e.endpoint_config,
    ),
  };
}

/** Polls a sidecar's admin endpoint until `check` holds: there is no watch on Envoy's state. */
async function untilEnvoy<T>(
  what: string,
  read: () => Promise<T>,
  check: (value: T) => boolean,
  timeoutMs = 60_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let error: unknown;
  while (Date.now() < deadline) {
    try {
      last = await read();
      if (check(last)) return last;
    } catch (e) {
      error = e; // the admin endpoint is down while Envoy restarts
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)} ${String(error ?? "")}`);
}

/**
 * The main process of a container of a Pod on the local node: the process
 * in the Pod's network namespace that this test process started (the local
 * node runs in it and spawns each container's process directly; its launcher
 * execs into the program), with the program's name as `comm`. Only a
 * process we started is ever picked, never another Pod's or machine's.
 */
async function containerProcess(namespace: string, pod: string, comm: string): Promise<number> {
  const object = await rest().request<{ metadata: { uid: string } }>(
    "GET",
    `/api/v1/namespaces/${namespace}/pods/${pod}`,
  );
  const netns = podNetworkNamespace(object.metadata.uid);
  if (!netns) throw new Error(`no network namespace for ${namespace}/${pod}`);
  const inode = statSync(`${NETNS_DIR}/${netns}`).ino;
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/ns/net`) !== `net:[${inode}]`) continue;
      const fields = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(fields.slice(fields.lastIndexOf(")") + 2).split(" ")[1]);
      const name = readFileSync(`/proc/${entry}/comm`, "utf8").trim();
      if (ppid === process.pid && name === comm) found.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  if (found.length !== 1)
    throw new Error(
      `expected one ${comm} process of ${namespace}/${pod}, found ${found.join(", ") || "none"}`,
    );
  return found[0]!;
}

async function podByPrefix(namespace: string, prefix: string): Promise<Pod> {
  const pods = await rest().request<{ items: Pod[] }>("GET", `/api/v1/namespaces/${namespace}/pods`);
  const pod = pods.items.find((p) => p.metadata?.name?.startsWith(prefix) && !p.metadata.deletionTimestamp);
  if (!pod) throw new Error(`no Pod ${prefix}* in ${namespace}`);
  return pod;
}

/** Waits until a Pod's container restarted past `restarts` and the Pod is Ready again. */
async function waitRestartedAndReady(
  namespace: string,
  pod: string,
  container: string,
  restarts: number,
): Promise<Pod> {
  const [seen] = await waitFor<Pod>(
    meshCluster().kubeConfig,
    "v1",
    "Pod",
    namespace,
    (pods) =>
      pods.some(
        (p) =>
          p.metadata?.name === pod &&
          (containerStatus(p, container)?.restartCount ?? 0) > restarts &&
          condition(p, "Ready") === "True",
      ),
    120_000,
    `${namespace}/${pod} restarted ${container} and Ready`,
  );
  return seen!;
}

function echoPolicy(value: string): object {
  return {
    apiVersion: "skiff.dev/v1alpha1",
    kind: "TrafficPolicy",
    metadata: { name: "echo", namespace: NS },
    spec: {
      targetRef: { kind: "Service", name: "echo" },
      http: [{ name: "all", headers: { response: { set: { "x-config": value } } }, route: [{}] }],
    },
  };
}

async function configHeader(): Promise<string | undefined> {
  const [response] = await curl(NS, "client", "http://echo:8080/echo");
  assert.equal(response!.status, 200, response!.body);
  return response!.headers["x-config"];
}

describe("faults: a killed sidecar and a killed xDS server", function () {
  before(async function () {
    skipUnlessSupported(this);
    await meshNamespace(NS);
    await apply([
      fortioDeployment(NS, "echo"),
      service(NS, "echo", [{ name: "http", port: 8080 }]),
      clientPod(NS),
    ]);
    await waitPodsReady(NS, 2);
    await apply([echoPolicy("one")]);
    await waitProgrammed(NS, "TrafficPolicy", "echo");
    // Ready Pods reach EndpointSlices, and then EDS, a moment later.
    await untilEnvoy(
      "the client's sidecar to have a healthy echo endpoint",
      () => envoyAdmin("client", "/clusters"),
      (text) =>
        new RegExp(`^${ECHO_CLUSTER.replace(/[|.]/g, "\\$&")}::[\\d.:]+::health_flags::healthy$`, "m").test(
          text,
        ),
    );
  });
  after(() => deleteNamespace(NS));

  it("a sidecar's Envoy killed with SIGKILL is restarted, re-syncs the same configuration and carries traffic again", async () => {
    assert.equal(await configHeader(), "one");
    // No listener was updated in place, so every version in the dump is the served one (see envoy-config.test.ts).
    assert.equal(await stat("client", "listener_manager.listener_in_place_updated"), 0);
    const before = await dynamicConfig("client");
    const pod = await rest().request<Pod>("GET", `/api/v1/namespaces/${NS}/pods/client`);
    const restarts = containerStatus(pod, "skiff-proxy")!.restartCount;

    const pid = await containerProcess(NS, "client", "envoy");
    const killedAt = Date.now();
    process.kill(pid, "SIGKILL");
    const restarted = await waitRestartedAndReady(NS, "client", "skiff-proxy", restarts);
    const readyAfterMs = Date.now() - killedAt;
    const status = containerStatus(restarted, "skiff-proxy")!;
    assert.equal(status.lastState?.terminated?.exitCode, 137, JSON.stringify(status));
    assert.notEqual(await containerProcess(NS, "client", "envoy"), pid);

    // The new Envoy holds what the old one held: same names, contents and versions.
    const after = await untilEnvoy(
      "the restarted Envoy's configuration",
      () => dynamicConfig("client"),
      (config) => isDeepStrictEqual(config, before),
      30_000,
      500,
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\nbefore: ${JSON.stringify(before)}`);
    });
    const counts = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, Object.keys(v).length]));
    log(
      `envoy pid ${pid} killed; restartCount ${restarts} -> ${status.restartCount}, Ready again after ${readyAfterMs} ms; config equal: ${JSON.stringify(counts)}`,
    );

    const responses = await curl(NS, "client", "http://echo:8080/echo", { count: 20 });
    assert.deepEqual(
      responses.map((r) => `${r.status} ${r.headers["x-config"]}`),
      Array(20).fill("200 one"),
    );
  });

  it("while the xDS server is down, traffic between sidecars goes on; when it is back, they re-sync", async () => {
    assert.equal(await configHeader(), "one");
    const echo = (await podByPrefix(NS, "echo-")).metadata!.name!;
    const sidecars = ["client", echo];
    const xds = await podByPrefix(XDS_NAMESPACE, "skiff-xds-");
    const xdsName = xds.metadata!.name!;
    const container = xds.status!.containerStatuses![0]!.name;
    const restarts = containerStatus(xds, container)!.restartCount;
    const connected = async () =>
      Promise.all(sidecars.map((pod) => stat(pod, "control_plane.connected_state")));
    assert.deepEqual(await connected(), [1, 1]);
    const before = await dynamicConfig("client");

    // A steady load from the client's sidecar to the echo server's, for longer than the outage.
    const fortio = await fortioBinary({ build: false });
    const requests = () => stat("client", `cluster.${ECHO_CLUSTER}.upstream_rq_total`).then((n) => n ?? 0);
    const requestsBefore = await requests();
    const loadStarted = Date.now();
    const load = exec(
      NS,
      "client",
      [fortio, "load", "-qps", "20", "-c", "2", "-t", "40s", "-json", "-", "http://echo:8080/echo"],
      { timeoutMs: 90_000 },
    );
    await untilEnvoy("the load to flow", requests, (n) => n > requestsBefore + 5);

    const pid = await containerProcess(XDS_NAMESPACE, xdsName, "node");
    process.kill(pid, "SIGKILL");
    const killedAt = Date.now();
    await untilEnvoy("both sidecars to lose the xDS server", connected, (v) => v.every((c) => c === 0));
    const lostAt = Date.now();
    await waitRestartedAndReady(XDS_NAMESPACE, xdsName, container, restarts);
    await untilEnvoy("both sidecars to reconnect", connected, (v) => v.every((c) => c === 1), 60_000, 200);
    const backAt = Date.now();

    const result = await load;
    const loadEnded = Date.now();
    assert.equal(result.code, 0, result.stderr.slice(-2000));
    const report = JSON.parse(result.stdout) as {
      RetCodes: Record<string, number>;
      DurationHistogram: { Count: number };
      ErrorsDurationHistogram?: { Count: number };
    };
    log(
      `xDS server ${xdsName} killed ${killedAt - loadStarted} ms into the load; both sidecars had lost it ` +
        `${lostAt - killedAt} ms later and were connected again ${backAt - killedAt} ms after the kill`,
    );
    log(
      `load through the outage: ${report.DurationHistogram.Count} requests in ${loadEnded - loadStarted} ms, ` +
        `codes ${JSON.stringify(report.RetCodes)}, errors ${report.ErrorsDurationHistogram?.Count ?? 0}`,
    );
    assert.ok(backAt < loadEnded - 1000, "the outage must end within the load");
    assert.deepEqual(Object.keys(report.RetCodes), ["200"], JSON.stringify(report.RetCodes));
    assert.equal(report.RetCodes["200"], report.DurationHistogram.Count);
    assert.ok(report.DurationHistogram.Count >= 700, `${report.DurationHistogram.Count} requests`);
    assert.equal(report.ErrorsDurationHistogram?.Count ?? 0, 0);

    // The restarted server serves the same resources under the same versions
    // (they are content hashes), so the sidecar ends where it was...
    await untilEnvoy(
      "the client's configuration to equal what it was before the outage",
      () => dynamicConfig("client"),
      (config) => isDeepStrictEqual(config, before),
      30_000,
      500,
    );
    // ...and a change made after the server came back reaches every sidecar.
    await apply([echoPolicy("two")]);
    await waitProgrammed(NS, "TrafficPolicy", "echo");
    assert.equal(await configHeader(), "two");
  });
});
