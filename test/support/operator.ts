import { spawn, type ChildProcess } from "node:child_process";
import { repositoryRoot } from "../../src/controlplane/binaries.js";
import type { KubernetesObject } from "@kubernetes/client-node";
import type { ServerSideApplier } from "../../src/k8s/apply.js";
import type { RestClient } from "../../src/k8s/rest.js";
import { registry } from "../../src/observability/metrics.js";

/**
 * Runs `skiff operator` from source in a process of its own, with its logs
 * silenced. Its webhooks listen on a free port, so several replicas can run
 * side by side; `args` may override that.
 */
export function spawnOperator(kubeconfigPath: string, args: string[]): ChildProcess {
  return spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "src/cli/main.ts",
      "operator",
      "--kubeconfig",
      kubeconfigPath,
      "--webhook-address",
      "127.0.0.1:0",
      ...args,
    ],
    {
      cwd: repositoryRoot(),
      stdio: "ignore",
      env: { ...process.env, SKIFF_LOG_LEVEL: "silent", POD_NAMESPACE: "default" },
    },
  );
}

/** The status of one condition of a Mesh, or undefined while it has none. */
export async function meshConditionStatus(
  rest: RestClient,
  type: string,
  name = "default",
): Promise<string | undefined> {
  const mesh = await rest.request<{ status?: { conditions?: { type: string; status: string }[] } }>(
    "GET",
    `/apis/skiff.dev/v1alpha1/meshes/${name}`,
  );
  return mesh.status?.conditions?.find((c) => c.type === type)?.status;
}

/** Server-side applies a Mesh (named default unless said otherwise) with the given spec. */
export function applyMesh(applier: ServerSideApplier, spec: Record<string, unknown> = {}, name = "default") {
  return applier.apply({
    apiVersion: "skiff.dev/v1alpha1",
    kind: "Mesh",
    metadata: { name },
    spec,
  } as KubernetesObject);
}

/** Mesh reconciles so far in this process, whatever their result (the operator runs in the test's process). */
export async function meshReconcileCount(): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === "skiff_reconcile_total");
  return (metric?.values ?? [])
    .filter((v) => v.labels.controller === "mesh")
    .reduce((sum, v) => sum + Number(v.value), 0);
}

/**
 * Resolves once the Mesh controller has been idle for a second: no reconcile
 * in flight may still see a change the test makes next, so only a watch can.
 */
export async function meshControllerIdle(): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const before = await meshReconcileCount();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    if ((await meshReconcileCount()) === before) return;
    if (Date.now() > deadline) throw new Error("the Mesh controller kept reconciling for 30 s");
  }
}
