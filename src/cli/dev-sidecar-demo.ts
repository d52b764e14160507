import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import { join } from "node:path";
import type { Logger } from "pino";
import { repositoryRoot } from "../controlplane/binaries.js";
import { applyManifests, readManifests } from "../k8s/manifests.js";
import { Informer } from "../k8s/informer.js";
import { apiPath, RestClient } from "../k8s/rest.js";
import type { LocalNode } from "../localnode/local-node.js";

const NAMESPACE = "skiff-demo";
const CALLS = 100;
const SEPARATOR = "\n=====skiff-demo=====\n";

/**
 * The Deployment whose Pod answered fortio's /debug page ("… on
 * reviews-v1-5d4f8c7b9-x2x7q …"): the Pod name without the ReplicaSet hash
 * and the Pod suffix.
 */
export function answeringDeployment(body: string): string | undefined {
  return / on ([a-z0-9-]+?)-[a-z0-9]{6,10}-[a-z0-9]{5}\b/.exec(body)?.[1];
}

export interface RunningDemo {
  stop(): Promise<void>;
}

/**
 * The `skiff dev` demo with Envoy sidecars (config/samples/sidecar-demo):
 * every few seconds, curl in the client Pod's network namespace sends 100
 * requests to reviews through the client's sidecar, and the split between
 * the versions that answered is printed with the TrafficPolicy's conditions.
 */
export async function startSidecarDemo(
  kubeConfig: KubeConfig,
  node: LocalNode,
  options: { logger: Logger; print: (text: string) => void; intervalMs?: number },
): Promise<RunningDemo> {
  const manifests = await readManifests(join(repositoryRoot(), "config", "samples", "sidecar-demo"));
  await applyWhenAccountsExist(kubeConfig, manifests);
  const rest = new RestClient(kubeConfig);
  let stopped = false;
  const report = async () => {
    const url = `http://reviews.${NAMESPACE}:9080/debug`;
    const args = ["curl", "-s", "-m", "5", "-w", SEPARATOR, url];
    for (let i = 1; i < CALLS; i++) args.push("--next", "-s", "-m", "5", "-w", SEPARATOR, url);
    const result = await node
      .exec(NAMESPACE, "client", args, { timeoutMs: 30_000 })
      .catch((e: unknown) => e as Error);
    if (stopped) return;
    if (result instanceof Error) {
      options.print(`waiting for the demo's client Pod (${result.message})\n`);
      return;
    }
    const counts = new Map<string, number>();
    for (const body of result.stdout.split(SEPARATOR).slice(0, CALLS)) {
      const who = answeringDeployment(body)?.replace(/^reviews-/, "") ?? "error";
      counts.set(who, (counts.get(who) ?? 0) + 1);
    }
    const tp = await rest
      .getIfExists<{ status?: { conditions?: { type: string; status: string }[] } }>(
        apiPath`/apis/skiff.dev/v1alpha1/namespaces/${NAMESPACE}/trafficpolicies/reviews`,
      )
      .catch(() => undefined);
    const conditions = (tp?.status?.conditions ?? []).map((c) => `${c.type}=${c.status}`).join(" ");
    options.print(
      [
        `observed split of ${CALLS} calls from ${NAMESPACE}/client to reviews (through Envoy sidecars):`,
        ...[...counts]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(
            ([v, n]) =>
              `  ${v.padEnd(6)} ${String(n).padStart(4)}  ${((100 * n) / CALLS).toFixed(1).padStart(5)}%`,
          ),
        `trafficpolicy ${NAMESPACE}/reviews: ${conditions || "no status yet"}`,
        "",
      ].join("\n"),
    );
  };
  let running = Promise.resolve();
  const timer = setInterval(() => {
    running = running
      .then(report)
      .catch((error: unknown) => options.logger.warn({ err: error }, "demo report failed"));
  }, options.intervalMs ?? 3000);
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}

/**
 * Applies the demo; Pods are refused until the namespace's default
 * ServiceAccount exists (kube-controller-manager creates it), so the
 * namespace goes first and the rest follows once the account is there.
 */
async function applyWhenAccountsExist(kubeConfig: KubeConfig, manifests: KubernetesObject[]): Promise<void> {
  const namespaces = manifests.filter((m) => m.kind === "Namespace");
  await applyManifests(kubeConfig, "skiff/dev", namespaces);
  for (const ns of namespaces) await defaultServiceAccount(kubeConfig, ns.metadata!.name!);
  await applyManifests(
    kubeConfig,
    "skiff/dev",
    manifests.filter((m) => m.kind !== "Namespace"),
  );
}

/** Resolves once the namespace's default ServiceAccount exists (watched, not polled). */
async function defaultServiceAccount(kubeConfig: KubeConfig, namespace: string): Promise<void> {
  const accounts = new Informer(kubeConfig, "v1", "ServiceAccount", { namespace });
  try {
    await new Promise<void>((resolve, reject) => {
      const check = () => accounts.get(namespace, "default") && resolve();
      accounts.on(check);
      accounts.start().then(check, reject);
    });
  } finally {
    accounts.stop();
  }
}
