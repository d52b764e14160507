import assert from "node:assert/strict";
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import { startDevCluster, type DevCluster } from "../../src/cli/dev-cluster.js";
import { Informer } from "../../src/k8s/informer.js";
import { applyManifests } from "../../src/k8s/manifests.js";
import { RestClient } from "../../src/k8s/rest.js";
import { LocalNode } from "../../src/localnode/local-node.js";
import { podExecArgv, podNetworkNamespace, type ExecResult } from "../../src/localnode/exec.js";
import { pino, type Logger } from "pino";

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
    logger: clusterLogger(),
    beforeOperator: async (kubeConfig) => {
      await applyManifests(kubeConfig, "skiff-e2e", [
        {
          apiVersion: "skiff.dev/v1alpha1",
          kind: "Mesh",
          metadata: { name: "default" },
          spec: { rootNamespace: "skiff-system", controlPlane: { replicas: 1 } },
        },
      ] as unknown as KubernetesObject[]);
    },
  });
  await waitFor(cluster.kubeConfig, "skiff.dev/v1alpha1", "Mesh", undefined, (meshes) =>
    meshes.some((m) => condition(m, "Ready") === "True"),
  );
}

/** Where the cluster's components log (the operator, the local node, the xDS server's Pod logs are the node's). */
export const CLUSTER_LOG = join(tmpdir(), `skiff-e2e-${process.pid}.log`);

/**
 * The cluster's logger: everything into {@link CLUSTER_LOG}, warnings and
 * errors also on stderr, so the test report stays readable and a failure
 * still shows what went wrong beside it.
 */
function clusterLogger(): Logger {
  return pino(
    { name: "e2e", level: "info" },
    pino.multistream([
      { level: "info", stream: pino.destination({ dest: CLUSTER_LOG, sync: true }) },
      { level: "warn", stream: pino.destination(2) },
    ]),
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

/**
 * Deletes a test's namespace and waits until it is gone (its Pods stopped,
 * their addresses free, their Services out of every sidecar's
 * configuration), so the next test starts with a quiet mesh.
 */
export async function deleteNamespace(name: string): Promise<void> {
  await rest()
    .request("DELETE", `/api/v1/namespaces/${name}`)
    .catch(() => {});
  await waitFor(
    meshCluster().kubeConfig,
    "v1",
    "Namespace",
    undefined,
    (namespaces) => !namespaces.some((n) => n.metadata?.name === name),
    150_000,
    `namespace ${name} deleted`,
  );
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
          // Long enough for the sidecar's drain (the grace period less a second: 4 s).
          terminationGracePeriodSeconds: 5,
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

/** A TrafficPolicy for a Service, named after it. */
export function trafficPolicy(namespace: string, service: string, spec: object): KubernetesObject {
  return {
    apiVersion: "skiff.dev/v1alpha1",
    kind: "TrafficPolicy",
    metadata: { name: service, namespace },
    spec: { targetRef: { kind: "Service", name: service }, ...spec },
  } as KubernetesObject;
}

/** Subsets v1 and v2 of a Service, by the `version` label its Deployments carry. */
export const VERSION_SUBSETS = [
  { name: "v1", labels: { version: "v1" } },
  { name: "v2", labels: { version: "v2" } },
];

/**
 * Applies a {@link trafficPolicy} and waits until it is Programmed: every
 * sidecar that needs it ACKed it. Returns the policy applied.
 */
export async function programTrafficPolicy(
  namespace: string,
  service: string,
  spec: object,
): Promise<KubernetesObject> {
  const policy = trafficPolicy(namespace, service, spec);
  await apply([policy]);
  await waitProgrammed(namespace, "TrafficPolicy", service);
  return policy;
}

/** A Pod as the tests read it: what they use of it, and what the API server always sets. */
export interface PodObject extends KubernetesObject {
  metadata: { name: string; uid: string; labels?: Record<string, string>; deletionTimestamp?: Date };
  status?: {
    podIP?: string;
    containerStatuses?: {
      name: string;
      ready: boolean;
      restartCount: number;
      lastState?: { terminated?: { exitCode: number } };
    }[];
  };
}

/** The Pods of a namespace, or those that match a label selector (`app=echo,version=v1`). */
export async function listPods(namespace: string, labelSelector?: string): Promise<PodObject[]> {
  const pods = await rest().request<{ items: PodObject[] }>(
    "GET",
    `/api/v1/namespaces/${namespace}/pods`,
    labelSelector === undefined ? {} : { query: { labelSelector } },
  );
  return pods.items;
}

/** The one Pod that matches a label selector; fails unless exactly one does. */
export async function podOf(namespace: string, labelSelector: string): Promise<PodObject> {
  const pods = await listPods(namespace, labelSelector);
  assert.equal(
    pods.length,
    1,
    `one Pod ${labelSelector} in ${namespace}: ${pods.map((p) => p.metadata.name).join(", ") || "none"}`,
  );
  return pods[0]!;
}

/**
 * A Pod whose name starts with `prefix` (a Deployment's Pod: `reviews-v1-`),
 * not one being deleted.
 */
export async function podByPrefix(namespace: string, prefix: string): Promise<PodObject> {
  const pod = (await listPods(namespace)).find(
    (p) => p.metadata.name.startsWith(prefix) && !p.metadata.deletionTimestamp,
  );
  if (!pod) throw new Error(`no Pod ${prefix}* in ${namespace}`);
  return pod;
}

/** The network namespace of a Pod on the local node (its name under the node's netns directory). */
export async function podNetns(namespace: string, pod: string): Promise<string> {
  const object = await rest().request<PodObject>("GET", `/api/v1/namespaces/${namespace}/pods/${pod}`);
  const netns = podNetworkNamespace(object.metadata.uid);
  if (!netns) throw new Error(`no network namespace for ${namespace}/${pod}`);
  return netns;
}

/**
 * Starts a command in a Pod's network namespace, as `uid` (default root,
 * the fortio image's user), and returns at once, its output piped: for a
 * server or a load that runs beside the test, where {@link exec} would wait
 * for the command to end. The caller stops it.
 */
export async function spawnInPod(
  namespace: string,
  pod: string,
  command: string[],
  uid = 0,
): Promise<ChildProcessByStdio<null, Readable, Readable>> {
  const [file, ...args] = podExecArgv(await podNetns(namespace, pod), command, uid);
  return spawn(file!, args, { stdio: ["ignore", "pipe", "pipe"] });
}

/** The JSON access-log lines of a Pod's sidecar, from the container log the node keeps. */
export function sidecarAccessLog(namespace: string, pod: string): Record<string, unknown>[] {
  const path = meshCluster().node.logPath(namespace, pod, "skiff-proxy");
  assert.ok(path, `no log for ${namespace}/${pod}`);
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Waits until every Pod in the namespace (at least `count`) is Ready. */
export async function waitPodsReady(namespace: string, count: number): Promise<void> {
  try {
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
  } catch (error) {
    // A sidecar that never got its configuration keeps its Pod unready: say why.
    const unready = (await listPods(namespace).catch(() => [])).filter((p) =>
      p.status?.containerStatuses?.some((c) => c.name === "skiff-proxy" && !c.ready),
    );
    const contexts = await Promise.all(
      unready.map(async (p) => `=== ${p.metadata.name}\n${await sidecarContext(namespace, p.metadata.name)}`),
    );
    throw new Error([String(error), ...contexts].join("\n"));
  }
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
  const requests = Array.from({ length: options.count ?? 1 }, () => ({ url, args: options.args }));
  return (await curlRun(namespace, pod, requests, options.timeoutMs)).map(parseHttp);
}

/** One request of {@link curlEach}: its URL, and curl arguments of its own (`-H`, `-X`...). */
export interface CurlRequest {
  url: string;
  args?: string[];
}

/**
 * {@link curl} for requests that differ: each with arguments of its own,
 * still one curl on one connection. Fails unless curl answered every one.
 */
export async function curlEach(
  namespace: string,
  pod: string,
  requests: CurlRequest[],
  options: { timeoutMs?: number } = {},
): Promise<CurlResult[]> {
  const answers = await curlRun(namespace, pod, requests, options.timeoutMs);
  assert.equal(answers.length, requests.length, `curl answered ${answers.length} of ${requests.length}`);
  return answers.map(parseHttp);
}

/** Runs one curl for all the requests (joined by --next) and returns each one's raw response. */
async function curlRun(
  namespace: string,
  pod: string,
  requests: CurlRequest[],
  timeoutMs = 120_000,
): Promise<string[]> {
  const separator = "=====SKIFF-E2E=====";
  const args = ["curl"];
  requests.forEach((r, i) =>
    args.push(
      ...(i > 0 ? ["--next"] : []),
      "-s",
      "-S",
      "-i",
      "-m",
      "10",
      ...(r.args ?? []),
      "-w",
      separator,
      r.url,
    ),
  );
  const result = await exec(namespace, pod, args, { timeoutMs });
  if (result.code !== 0 && !result.stdout) throw new Error(`curl exited ${result.code}: ${result.stderr}`);
  // A request curl got no answer to (refused, timed out) is an empty block;
  // it carries curl's own words, so a failed assertion says why.
  const failure = `curl exited ${result.code}: ${result.stderr.trim()}${
    result.code === 7 ? await connectFailureContext(namespace, pod) : ""
  }`;
  return result.stdout
    .split(separator)
    .slice(0, requests.length)
    .map((raw) => (raw.trim() ? raw : failure));
}

/**
 * What a refused connection from a Pod needs to be understood: the sockets
 * listening in its network namespace (is the sidecar's 15001 there?), its
 * capture rules, and its sidecar's state.
 */
async function connectFailureContext(namespace: string, pod: string): Promise<string> {
  const command = [
    "sh",
    "-c",
    "echo '--- listening:'; ss -ltn; echo '--- nat rules:'; iptables-save -t nat | grep -E '^-A (OUTPUT|SKIFF)'",
  ];
  const seen = await exec(namespace, pod, command, { timeoutMs: 20_000 }).catch((error: unknown) => ({
    stdout: "",
    stderr: String(error),
  }));
  return `\n${seen.stdout}${seen.stderr}\n${await sidecarContext(namespace, pod)}`;
}

/**
 * Why a sidecar holds no configuration: its listeners, its xDS connection
 * (Envoy's server state and control-plane stats), and the last words of
 * the sidecar and of the xDS server.
 */
async function sidecarContext(namespace: string, pod: string): Promise<string> {
  const command = [
    "sh",
    "-c",
    "echo '--- sidecar listeners:'; curl -s -m 5 http://127.0.0.1:15000/listeners; " +
      "echo '--- sidecar xDS:'; curl -s -m 5 " +
      "'http://127.0.0.1:15000/stats?filter=^(server.state|control_plane.|listener_manager.lds|cluster.skiff-xds.(upstream_cx_|membership))'",
  ];
  const seen = await exec(namespace, pod, command, { timeoutMs: 20_000 }).catch((error: unknown) => ({
    stdout: "",
    stderr: String(error),
  }));
  const xds = (await listPods("skiff-system").catch(() => [])).find((p) =>
    p.metadata.name.startsWith("skiff-xds-"),
  );
  return [
    `${seen.stdout}${seen.stderr}`,
    `--- sidecar log:\n${logTail(namespace, pod, "skiff-proxy")}`,
    `--- xDS server log (${xds?.metadata.name ?? "no Pod"}):\n${xds ? logTail("skiff-system", xds.metadata.name, "xds") : ""}`,
  ].join("\n");
}

/** The last lines a container of a Pod on the local node wrote. */
function logTail(namespace: string, pod: string, container: string, lines = 20): string {
  const path = meshCluster().node.logPath(namespace, pod, container);
  if (!path) return "(no log)";
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch (error) {
    return String(error);
  }
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
  // No status line: what there is (curl's error) is the body, to be read in a failure.
  if (!status) return { status, headers: {}, body: raw };
  return { status, headers, body: blocks.slice(index + 1).join("\r\n\r\n") };
}

/** The Deployment (by its Pod name prefix) that answered a fortio /debug request. */
export function answeredBy(body: string): string | undefined {
  return / on ([a-z0-9-]+?)-[a-z0-9]{6,10}-[a-z0-9]{5}\b/.exec(body)?.[1];
}

/** The Pod (not just the Deployment, as {@link answeredBy}) that answered a fortio /debug request. */
export function answeringPod(body: string): string | undefined {
  return / on ([a-z0-9-]+-[a-z0-9]{6,10}-[a-z0-9]{5})\b/.exec(body)?.[1];
}

/** Counts per value. */
export function tally(values: (string | undefined)[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of values) counts[v ?? "(none)"] = (counts[v ?? "(none)"] ?? 0) + 1;
  return counts;
}

/** Prints a line of what a test saw under its title, indented as mocha's spec reporter indents it. */
export function log(line: string): void {
  process.stdout.write(`      ${line}\n`);
}
