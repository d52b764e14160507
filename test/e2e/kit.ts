import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import { startDevCluster, type DevCluster } from "../../src/cli/dev-cluster.js";
import { Informer } from "../../src/k8s/informer.js";
import { applyManifests } from "../../src/k8s/manifests.js";
import { RestClient } from "../../src/k8s/rest.js";
import { LocalNode } from "../../src/localnode/local-node.js";
import type { ExecResult } from "../../src/localnode/exec.js";
import { createLogger } from "../../src/observability/logger.js";

/** The fortio image the tests' workloads run (the local node runs fortio.org/fortio for it). */
export const FORTIO_IMAGE = "fortio/fortio:1.75.3";

let cluster: DevCluster | undefined;

/** Why the suite cannot run here (not root, no iptables...), or undefined. */
export const unsupported = LocalNode.unsupportedReason;

export async function startMeshCluster(): Promise<void> {
  const reason = unsupported();
  if (reason) {
    process.stderr.write(`end-to-end tests skipped: ${reason}\n`);
    return;
  }
  cluster = await startDevCluster({
    logger: createLogger("e2e"),
    beforeOperator: async (kubeConfig) => {
      await applyManifests(kubeConfig, "skiff-e2e", [
        {
          apiVersion: "skiff.dev/v1alpha1",
          kind: "Mesh",
          metadata: { name: "default" },
          spec: { rootNamespace: "skiff-system", controlPlane: { replicas: 1 } },
        },
        // Sidecars get no workload certificate yet (their bootstrap sends no
        // ServiceAccount token: the issue "Security and telemetry on real
        // Envoys"), so traffic between them is plaintext, mesh-wide.
        {
          apiVersion: "skiff.dev/v1alpha1",
          kind: "PeerAuthentication",
          metadata: { name: "default", namespace: "skiff-system" },
          spec: { mtls: { mode: "DISABLE" } },
        },
      ] as unknown as KubernetesObject[]);
    },
  });
  await waitFor(cluster.kubeConfig, "skiff.dev/v1alpha1", "Mesh", undefined, (meshes) =>
    meshes.some((m) => condition(m, "Ready") === "True"),
  );
}

export async function stopMeshCluster(): Promise<void> {
  await cluster?.stop();
  cluster = undefined;
}

/** The running cluster; tests call `skipUnlessSupported` in a before hook first. */
export function meshCluster(): DevCluster {
  if (!cluster) throw new Error("the end-to-end cluster is not running");
  return cluster;
}

export function skipUnlessSupported(context: Mocha.Context): void {
  if (!cluster) context.skip();
}

export function rest(): RestClient {
  return new RestClient(meshCluster().kubeConfig);
}

/** The status of a condition of an object, or undefined. */
export function condition(object: KubernetesObject, type: string): string | undefined {
  const conditions = (object as { status?: { conditions?: { type: string; status: string }[] } }).status
    ?.conditions;
  return conditions?.find((c) => c.type === type)?.status;
}

/**
 * Waits, by list and watch, until `predicate` holds for the objects of a
 * kind (in a namespace). Fails after `timeoutMs` with the last objects seen.
 */
export async function waitFor<T extends KubernetesObject>(
  kubeConfig: KubeConfig,
  apiVersion: string,
  kind: string,
  namespace: string | undefined,
  predicate: (objects: T[]) => boolean,
  timeoutMs = 120_000,
  describe = `${kind} in ${namespace ?? "the cluster"}`,
): Promise<T[]> {
  const informer = new Informer<T>(kubeConfig, apiVersion, kind, namespace ? { namespace } : {});
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<T[]>((resolve, reject) => {
      const check = () => {
        const objects = informer.list();
        if (predicate(objects)) resolve(objects);
      };
      timer = setTimeout(() => {
        const seen = JSON.stringify(informer.list().map(summary), null, 1);
        reject(new Error(`timed out waiting for ${describe}; last seen:\n${seen}`));
      }, timeoutMs);
      informer.on(() => check());
      informer.start().then(check, reject);
    });
  } finally {
    clearTimeout(timer);
    informer.stop();
  }
}

function summary(object: KubernetesObject): unknown {
  const status = (object as { status?: Record<string, unknown> }).status;
  return { name: object.metadata?.name, status };
}

/** Creates a namespace whose Pods get sidecars, and waits for its default ServiceAccount. */
export async function meshNamespace(name: string, labels: Record<string, string> = {}): Promise<void> {
  const { kubeConfig } = meshCluster();
  await applyManifests(kubeConfig, "skiff-e2e", [
    {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name, labels: { "skiff.dev/injection": "enabled", ...labels } },
    },
  ] as KubernetesObject[]);
  await waitFor(kubeConfig, "v1", "ServiceAccount", name, (accounts) =>
    accounts.some((a) => a.metadata?.name === "default"),
  );
  await waitFor(kubeConfig, "v1", "ConfigMap", name, (maps) =>
    maps.some((m) => m.metadata?.name === "skiff-envoy-bootstrap"),
  );
}

export async function deleteNamespace(name: string): Promise<void> {
  await rest()
    .request("DELETE", `/api/v1/namespaces/${name}`)
    .catch(() => {});
}

export async function apply(objects: object[]): Promise<void> {
  await applyManifests(meshCluster().kubeConfig, "skiff-e2e", objects as KubernetesObject[]);
}

export interface FortioOptions {
  replicas?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** fortio server arguments beyond the ports. */
  args?: string[];
  port?: number;
}

/** A Deployment of fortio echo servers (HTTP on `port`, default 8080; gRPC ping on 8079). */
export function fortioDeployment(namespace: string, name: string, options: FortioOptions = {}): object {
  const labels = { app: name, ...options.labels };
  const port = options.port ?? 8080;
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace },
    spec: {
      replicas: options.replicas ?? 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels, annotations: options.annotations ?? {} },
        spec: {
          terminationGracePeriodSeconds: 2,
          containers: [
            {
              name: "app",
              image: FORTIO_IMAGE,
              args: [
                "server",
                "-http-port",
                String(port),
                "-grpc-port",
                "8079",
                "-redirect-port",
                "disabled",
                ...(options.args ?? []),
              ],
              ports: [
                { name: "http", containerPort: port },
                { name: "grpc", containerPort: 8079 },
              ],
              readinessProbe: { httpGet: { path: "/fortio/", port }, periodSeconds: 1 },
            },
          ],
        },
      },
    },
  };
}

/** A Service selecting `app: <selector>`, with one port per entry. */
export function service(
  namespace: string,
  name: string,
  ports: object[],
  selector: Record<string, string> = { app: name },
): object {
  return { apiVersion: "v1", kind: "Service", metadata: { name, namespace }, spec: { selector, ports } };
}

/** A client Pod: a fortio server idling, to run commands in its network namespace through its sidecar. */
export function clientPod(
  namespace: string,
  name = "client",
  annotations: Record<string, string> = {},
): object {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace, labels: { app: name }, annotations },
    spec: {
      terminationGracePeriodSeconds: 2,
      containers: [
        {
          name: "app",
          image: FORTIO_IMAGE,
          args: ["server", "-http-port", "8080", "-grpc-port", "disabled", "-redirect-port", "disabled"],
        },
      ],
    },
  };
}

/** Waits until every Pod in the namespace (at least `count`) is Ready. */
export async function waitPodsReady(namespace: string, count: number): Promise<void> {
  await waitFor(
    meshCluster().kubeConfig,
    "v1",
    "Pod",
    namespace,
    (pods) =>
      pods.length >= count &&
      pods.every((p) => !p.metadata?.deletionTimestamp && condition(p, "Ready") === "True"),
    180_000,
    `${count} ready Pods in ${namespace}`,
  );
}

/**
 * Waits until a policy is Programmed for its current generation: every
 * sidecar that needs it ACKed the configuration carrying it.
 */
export async function waitProgrammed(namespace: string, kind: string, name: string): Promise<void> {
  await waitFor(
    meshCluster().kubeConfig,
    "skiff.dev/v1alpha1",
    kind,
    namespace,
    (objects) =>
      objects.some((o) => {
        const status = (
          o as { status?: { conditions?: { type: string; status: string; observedGeneration?: number }[] } }
        ).status;
        const programmed = status?.conditions?.find((c) => c.type === "Programmed");
        return (
          o.metadata?.name === name &&
          programmed?.status === "True" &&
          programmed.observedGeneration === o.metadata?.generation
        );
      }),
    120_000,
    `${kind} ${namespace}/${name} Programmed`,
  );
}

/** Runs a command in a Pod's network namespace (through its sidecar, as its application would). */
export function exec(
  namespace: string,
  pod: string,
  command: string[],
  options: { container?: string; timeoutMs?: number } = {},
): Promise<ExecResult> {
  return meshCluster().node.exec(namespace, pod, command, options);
}

/** One HTTP exchange as curl saw it. */
export interface CurlResult {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends `count` requests with curl from a Pod, one at a time on one
 * connection where HTTP allows, and returns each response. curl, not
 * fortio, because the tests read response headers and bodies.
 */
export async function curl(
  namespace: string,
  pod: string,
  url: string,
  options: { count?: number; args?: string[]; timeoutMs?: number } = {},
): Promise<CurlResult[]> {
  const count = options.count ?? 1;
  const separator = "=====SKIFF-E2E=====";
  const args = ["curl", "-s", "-i", "-m", "10", ...(options.args ?? [])];
  for (let i = 0; i < count; i++)
    args.push(
      ...(i > 0 ? ["--next", "-s", "-i", "-m", "10", ...(options.args ?? [])] : []),
      "-w",
      separator,
      url,
    );
  const result = await exec(namespace, pod, args, { timeoutMs: options.timeoutMs ?? 120_000 });
  if (result.code !== 0 && !result.stdout) throw new Error(`curl exited ${result.code}: ${result.stderr}`);
  return result.stdout.split(separator).slice(0, count).map(parseHttp);
}

function parseHttp(raw: string): CurlResult {
  // With redirects not followed there is one response; skip interim 1xx blocks.
  const blocks = raw.split(/\r\n\r\n/);
  let index = 0;
  while (/^HTTP\/\S+ 1\d\d/.test(blocks[index] ?? "") && index < blocks.length - 1) index++;
  const head = blocks[index] ?? "";
  const [statusLine, ...headerLines] = head.split("\r\n");
  const status = Number(/^HTTP\/\S+ (\d{3})/.exec(statusLine ?? "")?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status, headers, body: blocks.slice(index + 1).join("\r\n\r\n") };
}

/** The Deployment (by its Pod name prefix) that answered a fortio /debug request. */
export function answeredBy(body: string): string | undefined {
  return / on ([a-z0-9-]+?)-[a-z0-9]{6,10}-[a-z0-9]{5}\b/.exec(body)?.[1];
}

/** Counts per value. */
export function tally(values: (string | undefined)[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of values) counts[v ?? "(none)"] = (counts[v ?? "(none)"] ?? 0) + 1;
  return counts;
}
