import assert from "node:assert/strict";
import { readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";
import { NETNS_DIR } from "../../src/localnode/netns.js";
import { dynamicResources, envoyStat, readUntil, waitForHealthyEndpoints } from "./envoy-admin.js";
import {
  apply,
  clientPod,
  condition,
  curl,
  deleteNamespace,
  fortioDeployment,
  log,
  meshCluster,
  meshNamespace,
  podByPrefix,
  podNetns,
  rest,
  service,
  skipUnlessSupported,
  trafficPolicy,
  waitFor,
  waitPodsReady,
  waitProgrammed,
  type PodObject,
} from "./kit.js";
import { startFortioLoad } from "./load.js";

/**
 * Faults in the data plane and the control plane: a sidecar's Envoy killed
 * with SIGKILL, and the xDS server killed while traffic flows.
 */

const NS = "e2e-faults";
const XDS_NAMESPACE = "skiff-system";
const ECHO_CLUSTER = `outbound|8080||echo.${NS}.svc.cluster.local`;

type ContainerStatus = NonNullable<NonNullable<PodObject["status"]>["containerStatuses"]>[number];

function containerStatus(pod: PodObject, container: string): ContainerStatus | undefined {
  return pod.status?.containerStatuses?.find((c) => c.name === container);
}

/**
 * A process of a Pod on the local node, by its program's name (`comm`): in
 * the Pod's network namespace, started by this test process (the local node
 * runs in it and spawns each container's process directly; its launcher
 * execs into the program) or by such a process (the sidecar container runs
 * skiff agent, whose child is Envoy). Only a process we started, directly or
 * not, is ever picked, never another Pod's or machine's.
 */
async function containerProcess(namespace: string, pod: string, comm: string): Promise<number> {
  const netns = await podNetns(namespace, pod);
  const inode = statSync(`${NETNS_DIR}/${netns}`).ino;
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/ns/net`) !== `net:[${inode}]`) continue;
      const ppid = parentOf(Number(entry));
      const name = readFileSync(`/proc/${entry}/comm`, "utf8").trim();
      if (name === comm && ppid !== undefined && (ppid === process.pid || parentOf(ppid) === process.pid))
        found.push(Number(entry));
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

/** A process's parent, or undefined once it has ended. */
function parentOf(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(fields.slice(fields.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

/** Waits until a Pod's container restarted past `restarts` and the Pod is Ready again. */
async function waitRestartedAndReady(
  namespace: string,
  pod: string,
  container: string,
  restarts: number,
): Promise<PodObject> {
  const [seen] = await waitFor<PodObject>(
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
  return trafficPolicy(NS, "echo", {
    http: [{ name: "all", headers: { response: { set: { "x-config": value } } }, route: [{}] }],
  });
}

/** A stat of a sidecar of this test's namespace (undefined until Envoy created it). */
const stat = (pod: string, name: string) => envoyStat(NS, pod, name);

/** The xDS resources a sidecar holds, by type and name: version and content. */
const dynamicConfig = (pod: string) => dynamicResources(NS, pod);

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
    await waitForHealthyEndpoints(NS, "client", [ECHO_CLUSTER], { intervalMs: 100 });
  });
  after(() => deleteNamespace(NS));

  it("a sidecar's Envoy killed with SIGKILL is restarted, re-syncs the same configuration and carries traffic again", async () => {
    assert.equal(await configHeader(), "one");
    // No listener was updated in place, so every version in the dump is the served one (see envoy-config.test.ts).
    assert.equal(await stat("client", "listener_manager.listener_in_place_updated"), 0);
    const before = await dynamicConfig("client");
    const pod = await rest().request<PodObject>("GET", `/api/v1/namespaces/${NS}/pods/client`);
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
    const after = await readUntil(
      "the restarted Envoy's configuration",
      () => dynamicConfig("client"),
      (config) => isDeepStrictEqual(config, before),
      { timeoutMs: 30_000, intervalMs: 500 },
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
    const requests = () => stat("client", `cluster.${ECHO_CLUSTER}.upstream_rq_total`).then((n) => n ?? 0);
    const requestsBefore = await requests();
    const loadStarted = Date.now();
    const load = await startFortioLoad(NS, "client", [
      "-qps",
      "20",
      "-c",
      "2",
      "-t",
      "40s",
      "http://echo:8080/echo",
    ]);
    await readUntil("the load to flow", requests, (n) => n > requestsBefore + 5, { intervalMs: 100 });

    const pid = await containerProcess(XDS_NAMESPACE, xdsName, "node");
    process.kill(pid, "SIGKILL");
    const killedAt = Date.now();
    await readUntil("both sidecars to lose the xDS server", connected, (v) => v.every((c) => c === 0), {
      intervalMs: 100,
    });
    const lostAt = Date.now();
    await waitRestartedAndReady(XDS_NAMESPACE, xdsName, container, restarts);
    const serverReadyAt = Date.now();
    await readUntil("both sidecars to reconnect", connected, (v) => v.every((c) => c === 1), {
      intervalMs: 200,
    });
    const backAt = Date.now();

    const report = await load.finished({ timeoutMs: 90_000 });
    const loadEnded = Date.now();
    log(
      `xDS server ${xdsName} killed ${killedAt - loadStarted} ms into the load; both sidecars had lost it ` +
        `${lostAt - killedAt} ms later; the server was Ready again ${serverReadyAt - killedAt} ms after the kill ` +
        `and both sidecars connected ${backAt - serverReadyAt} ms after that`,
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
    await readUntil(
      "the client's configuration to equal what it was before the outage",
      () => dynamicConfig("client"),
      (config) => isDeepStrictEqual(config, before),
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    // ...and a change made after the server came back reaches every sidecar.
    await apply([echoPolicy("two")]);
    await waitProgrammed(NS, "TrafficPolicy", "echo");
    assert.equal(await configHeader(), "two");
  });
});
