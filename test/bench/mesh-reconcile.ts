/**
 * Mesh reconcile latency, API requests per reconcile and operator memory
 * (B11), against a real API server.
 *
 * Runs `skiff operator` (the built dist/, as deployed) as its own process,
 * under a user of its own so that the API server's audit log tells its
 * requests from ours, changes the Mesh spec N times, and measures from each
 * API write to the status reporting that generation. Then reads the
 * operator's resident memory after it has been idle. Run with `make bench`
 * (after `make build`). Writes bench/results/mesh-reconcile-<date>.md and .json.
 *
 * HEAP_SNAPSHOT=1 also has the idle operator write a heap snapshot (into
 * .skiff/bench/mesh-reconcile/), to see what holds its memory.
 */
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join, relative } from "node:path";
import type { KubernetesObject } from "@kubernetes/client-node";
import { repositoryRoot } from "../../src/controlplane/binaries.js";
import { LocalControlPlane } from "../../src/controlplane/controlplane.js";
import { freePort } from "../../src/controlplane/ports.js";
import { ServerSideApplier } from "../../src/k8s/apply.js";
import { Informer } from "../../src/k8s/informer.js";
import { readManifests } from "../../src/k8s/manifests.js";
import { AuditLogFollower, type AuditEvent } from "../support/audit-log.js";
import { memoryKiB } from "./shared/proc.js";
import { writeReport } from "./shared/report.js";
import { checkedOutCommit, loadavg, writeResultFile, type BenchResult } from "./shared/results-file.js";
import { percentile } from "./shared/stats.js";

const CHANGES = Number(process.env.CHANGES ?? 50);
const IDLE_MS = 10_000;
const OPERATOR_USER = "bench-operator";
const ROOT = repositoryRoot();
const RESULTS = join(ROOT, "bench", "results");
const SNAPSHOTS = join(ROOT, ".skiff", "bench", "mesh-reconcile");
/** B11's target: the operator's RSS at idle after 50 reconciles (issue 18). */
const IDLE_RSS_TARGET_MIB = 150;

/**
 * NODE_OPTIONS as config/manager/manager.yaml gives the operator's container,
 * so that the operator measured is the operator deployed; OPERATOR_NODE_OPTIONS
 * overrides it (set it empty to measure Node.js's defaults).
 */
async function deployedNodeOptions(): Promise<string> {
  if (process.env.OPERATOR_NODE_OPTIONS !== undefined) return process.env.OPERATOR_NODE_OPTIONS;
  const deployment = (await readManifests(join(ROOT, "config", "manager", "manager.yaml"))).find(
    (o) => o.kind === "Deployment",
  ) as {
    spec: {
      template: { spec: { containers: { name: string; env?: { name: string; value?: string }[] }[] } };
    };
  };
  const container = deployment.spec.template.spec.containers.find((c) => c.name === "operator");
  return container?.env?.find((e) => e.name === "NODE_OPTIONS")?.value ?? "";
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const commit = checkedOutCommit(ROOT);

/** One sample of a Prometheus text exposition, summed over the series whose labels include `labels`. */
function metric(text: string, name: string, labels = ""): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (labels && !line.includes(labels)) continue;
    sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

/** "list configmaps", "patch meshes/status": what a request did, without names, for the breakdown. */
const requestKind = (e: AuditEvent) =>
  `${e.verb} ${e.objectRef?.resource ?? "(non-resource)"}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ""}`;

const loadAtStart = loadavg();
const plane = await LocalControlPlane.start({ auditLog: true });
const operatorKubeconfig = join(plane.workDir, "operator.kubeconfig");
writeFileSync(
  operatorKubeconfig,
  await plane.clientKubeconfig({ user: OPERATOR_USER, groups: ["system:masters"] }),
  { mode: 0o600 },
);
const nodeOptions = await deployedNodeOptions();
const httpPort = await freePort();
mkdirSync(SNAPSHOTS, { recursive: true });
const operator = spawn(
  process.execPath,
  [
    "--heapsnapshot-signal=SIGUSR2",
    `--diagnostic-dir=${SNAPSHOTS}`,
    join(ROOT, "dist/src/cli/main.js"),
    "operator",
    "--kubeconfig",
    operatorKubeconfig,
    "--http-address",
    `127.0.0.1:${httpPort}`,
    "--webhook-address",
    "127.0.0.1:0",
  ],
  {
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, SKIFF_LOG_LEVEL: "warn", POD_NAMESPACE: "default", NODE_OPTIONS: nodeOptions },
  },
);
const scrape = async () => (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
const meshReconciles = async () => metric(await scrape(), "skiff_reconcile_total", 'controller="mesh"');
/** Waits until the operator has reconciled nothing for a second, so that a count includes a change's tail. */
async function controllerIdle(): Promise<void> {
  for (;;) {
    const before = await meshReconciles();
    await sleep(1000);
    if ((await meshReconciles()) === before) return;
  }
}

try {
  const applier = new ServerSideApplier(plane.kubeConfig(), "bench");
  // Watch rather than poll, so that measuring does not load the API server.
  const meshes = new Informer<KubernetesObject & { status?: { observedGeneration?: number } }>(
    plane.kubeConfig(),
    "skiff.dev/v1alpha1",
    "Mesh",
  );
  await meshes.start();
  const reached = (generation: number) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if ((meshes.get("default")?.status?.observedGeneration ?? 0) >= generation) {
          unsubscribe();
          resolve();
        }
      };
      const unsubscribe = meshes.on(check);
      check();
    });
  const change = async (i: number) => {
    const started = performance.now();
    const mesh = await applier.apply({
      apiVersion: "skiff.dev/v1alpha1",
      kind: "Mesh",
      metadata: { name: "default" },
      spec: { observability: { tracing: { samplingPercent: i % 100 } } },
    } as KubernetesObject);
    await reached(mesh.metadata!.generation!);
    return performance.now() - started;
  };

  await change(0); // includes CA creation and start-up, so it is not counted
  await controllerIdle();
  const reconcilesBefore = await meshReconciles();
  const requests = await AuditLogFollower.fromNow(plane.auditLogPath!, OPERATOR_USER);
  const latencies: number[] = [];
  for (let i = 1; i <= CHANGES; i++) latencies.push(await change(i));
  await controllerIdle();
  const seen = await requests.waitFor(() => true, 0);
  const reconciles = (await meshReconciles()) - reconcilesBefore;
  latencies.sort((a, b) => a - b);
  const byKind = new Map<string, number>();
  for (const event of seen) byKind.set(requestKind(event), (byKind.get(requestKind(event)) ?? 0) + 1);

  await sleep(IDLE_MS);
  const idleRssMiB = memoryKiB(operator.pid!, "VmRSS") / 1024;
  const metrics = await scrape();
  const heapUsedMiB = metric(metrics, "nodejs_heap_size_used_bytes") / 2 ** 20;
  const heapTotalMiB = metric(metrics, "nodejs_heap_size_total_bytes") / 2 ** 20;
  const externalMiB = metric(metrics, "nodejs_external_memory_bytes") / 2 ** 20;
  const heapSpaces = ["new", "old", "code", "large_object"]
    .map(
      (space) =>
        `${space} ${(metric(metrics, "nodejs_heap_space_size_total_bytes", `space="${space}"`) / 2 ** 20).toFixed(1)}`,
    )
    .join(", ");
  if (process.env.HEAP_SNAPSHOT) operator.kill("SIGUSR2");
  const loadAtEnd = loadavg();
  meshes.stop();

  const p50 = percentile(latencies, 50);
  const p99 = percentile(latencies, 99);
  const perReconcile = seen.length / reconciles;
  const perChange = seen.length / CHANGES;
  const noise = `one run; machine load ${loadAtStart} at start, ${loadAtEnd} at end`;
  const date = new Date().toISOString().slice(0, 10);
  const markdown = [
    `# Mesh reconcile (${date}, commit ${commit})\n`,
    `${CHANGES} Mesh spec changes against a real kube-apiserver on loopback, the operator as a process of its own (NODE_OPTIONS: ${nodeOptions ? `\`${nodeOptions}\`` : "none"}, as config/manager gives it). Machine: ${cpus().length} cores; load average ${loadAtStart} at start, ${loadAtEnd} at end.\n`,
    "| measure | value |\n|---|---|",
    `| API write to status observedGeneration, p50 | ${p50.toFixed(1)} ms |`,
    `| API write to status observedGeneration, p99 | ${p99.toFixed(1)} ms |`,
    `| operator API requests per Mesh change | ${perChange.toFixed(1)} |`,
    `| Mesh reconciles | ${reconciles} (${(reconciles / CHANGES).toFixed(2)} per change) |`,
    `| operator API requests per reconcile | ${perReconcile.toFixed(1)} |`,
    `| operator RSS after ${IDLE_MS / 1000} s idle (B11, target ≤ ${IDLE_RSS_TARGET_MIB} MiB) | ${idleRssMiB.toFixed(1)} MiB |`,
    `| V8 heap used / total, external memory, at idle | ${heapUsedMiB.toFixed(1)} / ${heapTotalMiB.toFixed(1)} MiB, ${externalMiB.toFixed(1)} MiB |`,
    `| V8 heap spaces at idle, MiB committed | ${heapSpaces} |`,
    "\nThe operator's requests during the changes, from the API server's audit log (watches included):\n",
    "| request | count |\n|---|---|",
    ...[...byKind].sort((a, b) => b[1] - a[1]).map(([kind, count]) => `| ${kind} | ${count} |`),
    "\nThe end of each change is seen through a watch on the Mesh. The first change (CA creation, start-up) is not counted. Requests are counted from the first change until the operator has reconciled nothing for a second after the last, and divided by the reconciles the operator's `skiff_reconcile_total` counted meanwhile.",
  ].join("\n");
  const file = await writeReport(markdown, RESULTS, "mesh-reconcile", date);
  const results: BenchResult[] = [
    {
      id: "B11",
      what: `operator RSS at idle (${IDLE_MS / 1000} s) after ${CHANGES} Mesh reconciles`,
      value: Number(idleRssMiB.toFixed(1)),
      unit: "MiB",
      target: IDLE_RSS_TARGET_MIB,
      met: idleRssMiB <= IDLE_RSS_TARGET_MIB,
      noise,
      note: `NODE_OPTIONS ${JSON.stringify(nodeOptions)}; V8 heap used ${heapUsedMiB.toFixed(1)} MiB of ${heapTotalMiB.toFixed(1)}, external ${externalMiB.toFixed(1)} MiB`,
    },
    {
      id: "B11 requests",
      what: "operator API requests per Mesh reconcile",
      value: Number(perReconcile.toFixed(2)),
      unit: "requests",
      noise,
      note: `${seen.length} requests over ${reconciles} reconciles for ${CHANGES} changes`,
    },
    ...[
      ["p50", p50],
      ["p99", p99],
    ].map(([at, value]) => ({
      id: `B11 reconcile ${at}`,
      what: `Mesh spec write to status.observedGeneration, ${at} over ${CHANGES} changes`,
      value: Number((value as number).toFixed(1)),
      unit: "ms",
      noise,
    })),
  ];
  writeResultFile(RESULTS, "mesh-reconcile", {
    commit,
    date,
    loadavg: { start: loadAtStart, end: loadAtEnd },
    results,
  });
  console.log(`wrote ${relative(ROOT, file)} and its .json`);
  if (process.env.HEAP_SNAPSHOT) {
    await sleep(5000); // the snapshot is written synchronously by the operator; give it time before SIGTERM
    console.log(`heap snapshot in ${relative(ROOT, SNAPSHOTS)}`);
  }
} finally {
  operator.kill("SIGTERM");
  await new Promise((r) => operator.once("exit", r));
  await plane.stop();
}
