/**
 * Mesh reconcile latency and operator memory, against a real API server.
 *
 * Runs `skiff operator` (the built dist/, as deployed) as its own process,
 * changes the Mesh spec N times, and measures from each API write to the
 * status reporting that generation. Then reads the operator's resident memory
 * after it has been idle. Run with `make bench` (after `make build`).
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import type { KubernetesObject } from "@kubernetes/client-node";
import { repositoryRoot } from "../../src/controlplane/binaries.js";
import { LocalControlPlane } from "../../src/controlplane/controlplane.js";
import { ServerSideApplier } from "../../src/k8s/apply.js";
import { Informer } from "../../src/k8s/informer.js";
import { percentile } from "./shared/stats.js";

const CHANGES = Number(process.env.CHANGES ?? 50);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rssMiB = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;

const plane = await LocalControlPlane.start();
const operator = spawn(
  process.execPath,
  [
    join(repositoryRoot(), "dist/src/cli/main.js"),
    "operator",
    "--kubeconfig",
    plane.kubeconfigPath,
    "--http-address",
    "127.0.0.1:0",
    "--webhook-address",
    "127.0.0.1:0",
  ],
  {
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, SKIFF_LOG_LEVEL: "warn", POD_NAMESPACE: "default" },
  },
);
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

  const latencies: number[] = [];
  for (let i = 0; i <= CHANGES; i++) {
    const started = performance.now();
    const mesh = await applier.apply({
      apiVersion: "skiff.dev/v1alpha1",
      kind: "Mesh",
      metadata: { name: "default" },
      spec: { observability: { tracing: { samplingPercent: i % 100 } } },
    } as KubernetesObject);
    await reached(mesh.metadata!.generation!);
    if (i > 0) latencies.push(performance.now() - started); // the first includes CA creation and start-up
  }
  latencies.sort((a, b) => a - b);

  await sleep(10_000);
  const idleRss = rssMiB(operator.pid!);
  console.log(`## Mesh reconcile (${CHANGES} spec changes, real kube-apiserver on loopback)\n`);
  console.log("| measure | value |\n|---|---|");
  console.log(`| API write to status observedGeneration, p50 | ${percentile(latencies, 50).toFixed(1)} ms |`);
  console.log(`| API write to status observedGeneration, p99 | ${percentile(latencies, 99).toFixed(1)} ms |`);
  console.log(`| operator RSS after 10 s idle | ${idleRss.toFixed(1)} MiB |`);
  console.log(
    `\nThe end of each change is seen through a watch on the Mesh. Machine: ${cpus().length} cores.`,
  );
  meshes.stop();
} finally {
  operator.kill("SIGTERM");
  await new Promise((r) => operator.once("exit", r));
  await plane.stop();
}
