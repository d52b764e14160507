/**
 * EndpointSlice changes reach a caller's Envoy while it sends a steady
 * stream (fortio, 20 requests per second, through its sidecar): scaling a
 * Deployment up (the new replicas get traffic), one replica turning unready
 * (it gets none), and scaling down. Each phase reports what the caller saw
 * and what its sidecar retried; a request may fail only where Skiff's
 * default retry policy (Istio's: 2 retries on connect-failure,
 * refused-stream, unavailable, cancelled, retriable-status-codes) cannot
 * cover it.
 */
import assert from "node:assert/strict";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { envoyStats, eventually, healthyEndpoints } from "./envoy-admin.js";
import {
  apply,
  clientPod,
  condition,
  deleteNamespace,
  fortioDeployment,
  log,
  meshCluster,
  meshNamespace,
  rest,
  service,
  skipUnlessSupported,
  waitFor,
  waitPodsReady,
  type PodObject,
} from "./kit.js";
import { startFortioLoad, type FortioResult } from "./load.js";

const NS = "e2e-endpoints";
const CLUSTER = `outbound|8080||backend.${NS}.svc.cluster.local`;
/** A backend Pod is unready while a file named after it exists here (its readiness probe checks). */
const UNREADY_DIR = "/tmp/skiff-e2e-endpoints-unready";

/** The addresses of the endpoints the client's sidecar holds for the backend: Pod IPs, sorted. */
async function clientEndpoints(): Promise<string[]> {
  return (await healthyEndpoints(NS, "client", CLUSTER)).map((address) => address.split(":")[0]!).sort();
}

/**
 * Waits until the backend has exactly `count` Pods that are not terminating,
 * each with an address, `ready` of them ready; returns them. Terminating
 * Pods are left out: their endpoints are no longer ready, whether or not
 * the node has finished deleting them.
 */
async function backendPods(count: number, ready = count): Promise<PodObject[]> {
  const live = (all: PodObject[]) =>
    all.filter((p) => p.metadata.labels?.app === "backend" && !p.metadata.deletionTimestamp);
  const pods = await waitFor<PodObject>(
    meshCluster().kubeConfig,
    "v1",
    "Pod",
    NS,
    (all) => {
      const backends = live(all);
      return (
        backends.length === count &&
        backends.every((p) => p.status?.podIP) &&
        backends.filter((p) => condition(p, "Ready") === "True").length === ready
      );
    },
    90_000,
    `${count} backend Pods, ${ready} ready`,
  );
  return live(pods);
}

async function scale(replicas: number): Promise<void> {
  await rest().request("PATCH", `/apis/apps/v1/namespaces/${NS}/deployments/backend/scale`, {
    body: { spec: { replicas } },
    contentType: "application/merge-patch+json",
  });
}

/** The client sidecar's counters for the backend that tell what it retried and what failed. */
const RETRY_STATS = [
  "upstream_rq_total",
  "upstream_rq_retry",
  "upstream_rq_retry_success",
  "upstream_rq_5xx",
  "upstream_cx_connect_fail",
  "upstream_rq_pending_failure_eject",
  "upstream_cx_destroy_remote_with_active_rq",
];

async function retryStats(): Promise<Record<string, number>> {
  const stats = await envoyStats(NS, "client");
  return Object.fromEntries(RETRY_STATS.map((s) => [s, stats.get(`cluster.${CLUSTER}.${s}`) ?? 0]));
}

/** Waits until the client's sidecar has sent `count` more requests to the backend than `from`. */
async function waitRequests(from: number, count: number): Promise<number> {
  return eventually(`${count} more requests to the backend`, async () => {
    const total = (await retryStats()).upstream_rq_total!;
    return total >= from + count ? total : undefined;
  });
}

interface Phase {
  result: FortioResult;
  retries: Record<string, number>;
}

/** Runs the load around `change`, and reports the caller's result and its sidecar's retry counters. */
async function underLoad(change: () => Promise<void>): Promise<Phase> {
  const before = await retryStats();
  // 20 requests per second on 4 connections; -t 5m only bounds a run whose stop never comes.
  const load = await startFortioLoad(NS, "client", [
    "-qps",
    "20",
    "-c",
    "4",
    "-t",
    "5m",
    "http://backend:8080/echo",
  ]);
  let failed: unknown;
  try {
    await waitRequests(before.upstream_rq_total!, 20); // the stream flows before the change
    await change();
  } catch (error) {
    failed = error;
  }
  const result = await load.stop();
  if (failed) throw failed;
  const after = await retryStats();
  const retries = Object.fromEntries(RETRY_STATS.map((s) => [s, after[s]! - before[s]!]));
  return { result, retries };
}

function failures(result: FortioResult): number {
  return Object.entries(result.RetCodes)
    .filter(([code]) => !code.startsWith("2"))
    .reduce((sum, [, n]) => sum + n, 0);
}

/**
 * No request the caller sent may fail unless its sidecar had to give up:
 * every failure must be one Envoy could not retry (retries exhausted or a
 * cause outside the retry policy), which the sidecar's counters then show.
 */
function assertWithinRetryBudget(phase: string, { result, retries }: Phase): void {
  const total = result.DurationHistogram.Count;
  const failed = failures(result);
  log(
    `${phase}: ${total} requests, codes ${JSON.stringify(result.RetCodes)}; client sidecar ${JSON.stringify(retries)}`,
  );
  assert.ok(total >= 20, `${phase}: only ${total} requests`);
  assert.equal(
    failed,
    0,
    `${phase}: ${failed} of ${total} requests failed: ${JSON.stringify(result.RetCodes)}, ${JSON.stringify(retries)}`,
  );
}

describe("EndpointSlice changes under a steady stream of requests", function () {
  let unready = "";

  before(async function () {
    skipUnlessSupported(this);
    rmSync(UNREADY_DIR, { recursive: true, force: true });
    mkdirSync(UNREADY_DIR, { recursive: true });
    await meshNamespace(NS);
    const deployment = fortioDeployment(NS, "backend") as {
      spec: { template: { spec: { containers: { readinessProbe: object }[] } } };
    };
    // Ready unless the test names the Pod in UNREADY_DIR. The probe runs in
    // the container's mount namespace, where /etc/hosts ends with the Pod's
    // address and name.
    deployment.spec.template.spec.containers[0]!.readinessProbe = {
      exec: {
        command: ["sh", "-c", `test ! -e ${UNREADY_DIR}/$(awk 'END { print $2 }' /etc/hosts)`],
      },
      periodSeconds: 1,
      failureThreshold: 1,
    };
    await apply([deployment, service(NS, "backend", [{ name: "http", port: 8080 }]), clientPod(NS)]);
    await waitPodsReady(NS, 2);
    await eventually("the client's sidecar to hold the backend's endpoint", async () =>
      (await clientEndpoints()).length === 1 ? true : undefined,
    );
  });
  after(async () => {
    rmSync(UNREADY_DIR, { recursive: true, force: true });
    await deleteNamespace(NS);
  });

  it("scales up 1 -> 3: the new replicas take traffic, no request fails", async () => {
    const phase = await underLoad(async () => {
      const [first] = await backendPods(1);
      await scale(3);
      const pods = await backendPods(3);
      const addresses = pods.map((p) => p.status!.podIP!).sort();
      await eventually("the client's sidecar to hold the 3 endpoints", async () =>
        JSON.stringify(await clientEndpoints()) === JSON.stringify(addresses) ? true : undefined,
      );
      // Each new replica answers some of the stream through its own sidecar.
      for (const pod of pods.filter((p) => p.metadata.name !== first!.metadata.name)) {
        const served = await eventually(`${pod.metadata.name} to receive requests`, async () => {
          const count =
            (await envoyStats(NS, pod.metadata.name)).get("cluster.inbound|8080||.upstream_rq_200") ?? 0;
          return count >= 10 ? count : undefined;
        });
        log(`new replica ${pod.metadata.name} served ${served} requests`);
      }
    });
    assertWithinRetryBudget("scale up 1 -> 3", phase);
  });

  it("a replica that turns unready gets no more requests, and no request fails", async () => {
    const pods = await backendPods(3);
    const victim = pods[0]!;
    unready = victim.metadata.name;
    const phase = await underLoad(async () => {
      writeFileSync(`${UNREADY_DIR}/${victim.metadata.name}`, "");
      await backendPods(3, 2);
      await eventually("the client's sidecar to drop the unready endpoint", async () => {
        const endpoints = await clientEndpoints();
        return endpoints.length === 2 && !endpoints.includes(victim.status!.podIP!) ? true : undefined;
      });
      // From now on the stream goes to the two others only.
      const served = async () =>
        (await envoyStats(NS, victim.metadata.name)).get("cluster.inbound|8080||.upstream_rq_total") ?? 0;
      const before = await served();
      const from = (await retryStats()).upstream_rq_total!;
      const to = await waitRequests(from, 40);
      const after = await served();
      log(`unready ${victim.metadata.name}: ${after - before} of the next ${to - from} requests`);
      assert.equal(after, before, "the unready replica still received requests");
    });
    assertWithinRetryBudget("one replica unready", phase);
  });

  it("scales down 3 -> 1 (the unready replica and a ready one go): the caller moves to the one left, no request fails", async () => {
    const phase = await underLoad(async () => {
      await scale(1);
      const [remaining] = await backendPods(1);
      // The ReplicaSet removes unready Pods first.
      assert.notEqual(remaining!.metadata.name, unready);
      await eventually("the client's sidecar to hold the one endpoint left", async () =>
        JSON.stringify(await clientEndpoints()) === JSON.stringify([remaining!.status!.podIP])
          ? true
          : undefined,
      );
      await waitRequests((await retryStats()).upstream_rq_total!, 40);
    });
    assertWithinRetryBudget("scale down 3 -> 1", phase);
  });
});
