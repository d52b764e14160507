import { spawn, type ChildProcess } from "node:child_process";
import { repositoryRoot } from "../../src/controlplane/binaries.js";
import type { KubernetesObject } from "@kubernetes/client-node";
import type { ServerSideApplier } from "../../src/k8s/apply.js";
import type { RestClient } from "../../src/k8s/rest.js";

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
