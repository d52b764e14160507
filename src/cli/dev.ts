import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { rm } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { repositoryRoot } from "../controlplane/binaries.js";
import { LocalControlPlane } from "../controlplane/controlplane.js";
import { applyManifests, readManifests } from "../k8s/manifests.js";
import { LocalNode } from "../localnode/local-node.js";
import { createLogger } from "../observability/logger.js";
import type { RunningOperator } from "../operator/operator.js";
import { startXdsServer, type RunningXdsServer } from "../xds/xds-server.js";
import { ROOT_NAMESPACE, startDevCluster, startLocalOperator, type DevCluster } from "./dev-cluster.js";
import { startDemo } from "./dev-demo.js";
import { runDevExec } from "./dev-exec.js";
import { startSidecarDemo } from "./dev-sidecar-demo.js";
import { operatorImage } from "./image.js";

export const DEV_USAGE = `Usage: skiff dev [--kubeconfig PATH] [--no-samples] [--no-demo] [--no-node]
       skiff dev exec <namespace>/<pod> [-c container] -- <command> [args...]

Runs a local Kubernetes with Skiff installed: a real etcd, kube-apiserver and
kube-controller-manager on loopback, Skiff's CRDs, config/samples, the
operator in this process (its admission webhooks called by the API server),
and a local node that runs Pods as processes in network namespaces of their
own, with kube-proxy and CoreDNS. The Mesh's xDS server runs there as the
Deployment the operator generates, and injected Pods get real Envoy sidecars.
Prints
  READY kubeconfig=<path> apiserver=<url> node=<name>
when it is usable, and serves until interrupted (Ctrl-C), then removes
everything it started. Then it runs a traffic demo (config/samples/sidecar-demo):
fortio echo servers reviews v1 and v2 and a client Pod, routed 90/10 by a
TrafficPolicy, and prints the split the client's sidecar produces.

The local node needs root on Linux (network namespaces, iptables). Without
it, or with --no-node, Pods are stored but never run, the xDS server runs in
this process (READY also prints xds=<host:port>), and the demo uses proxyless
gRPC (config/samples/demo) instead of sidecars.

  --kubeconfig PATH   where to write the kubeconfig (default .skiff/dev/kubeconfig)
  --no-samples        do not apply config/samples, and run no demo
  --no-demo           do not run the traffic demo
  --no-node           run no local node (see above)

skiff dev exec runs a command in a Pod's network namespace on the local node
(as the container's user), so its traffic goes through the Pod's sidecar:
  skiff dev exec skiff-demo/client -- curl -s http://reviews:9080/debug`;

export async function runDev(argv: string[]): Promise<number> {
  if (argv[0] === "exec") return runDevExec(argv.slice(1));
  const { values } = parseArgs({
    args: argv,
    options: {
      kubeconfig: { type: "string", default: join(".skiff", "dev", "kubeconfig") },
      "no-samples": { type: "boolean", default: false },
      "no-demo": { type: "boolean", default: false },
      "no-node": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(DEV_USAGE);
    return 0;
  }
  const log = createLogger("skiff-dev");
  const noNode = values["no-node"] ? "--no-node" : LocalNode.unsupportedReason();
  if (noNode && !values["no-node"])
    console.error(
      `skiff dev: no local node (${noNode}): Pods will not run, and the demo uses proxyless gRPC`,
    );

  // Handlers go in before anything starts, so an early Ctrl-C still cleans up.
  let stopRequested: (signal: string) => void = () => {};
  const stopped = new Promise<string>((resolve) => (stopRequested = resolve));
  const onSignal = (signal: NodeJS.Signals) => stopRequested(signal);
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const settings: DevSettings = {
    kubeconfigPath: values.kubeconfig,
    samples: !values["no-samples"],
    demo: !values["no-samples"] && !values["no-demo"],
    log,
    stopped,
  };
  return noNode ? runWithoutNode(settings) : runWithNode(settings);
}

interface DevSettings {
  kubeconfigPath: string;
  samples: boolean;
  demo: boolean;
  log: ReturnType<typeof createLogger>;
  /** Resolves with the signal that asked to stop. */
  stopped: Promise<string>;
}

/** Waits for `startup` or a stop signal; an interrupted start cleans up what it made and yields undefined. */
async function startOrStop<T extends { stop(): Promise<void> }>(
  startup: Promise<T>,
  stopped: Promise<string>,
): Promise<T | undefined> {
  const first = await Promise.race([startup.then(() => "started"), stopped]);
  const started = await startup.catch((error: unknown) => {
    if (first !== "started") return undefined; // interrupted: the failure is ours to ignore
    throw error;
  });
  if (!started || first !== "started") {
    await started?.stop();
    return undefined;
  }
  return started;
}

async function applySamples(kubeConfig: KubeConfig, settings: DevSettings): Promise<void> {
  if (!settings.samples) return;
  const samples = await readManifests(join(repositoryRoot(), "config", "samples"));
  await applyManifests(kubeConfig, "skiff/dev", samples);
  settings.log.info({ count: samples.length }, "applied config/samples");
}

async function runWithNode(settings: DevSettings): Promise<number> {
  settings.log.info("starting etcd, kube-apiserver, kube-controller-manager and the local node");
  const startup: Promise<DevCluster> = startDevCluster({
    logger: settings.log,
    kubeconfigPath: settings.kubeconfigPath,
    // Beside the kubeconfig, so two skiff dev runs with their own kubeconfigs keep apart.
    nodeStateDir: join(dirname(resolve(settings.kubeconfigPath)), "node"),
    beforeOperator: (kubeConfig) => applySamples(kubeConfig, settings),
  });
  const cluster = await startOrStop(startup, settings.stopped);
  if (!cluster) return 130;
  let demo: { stop(): Promise<void> } | undefined;
  try {
    console.log(
      `READY kubeconfig=${cluster.plane.kubeconfigPath} apiserver=${cluster.plane.apiServerUrl} node=${cluster.node.nodeName}`,
    );
    if (settings.demo)
      demo = await startSidecarDemo(cluster.kubeConfig, cluster.node, {
        logger: settings.log,
        print: (text) => console.log(text),
      });
    const signal = await settings.stopped;
    settings.log.info({ signal }, "stopping");
  } finally {
    await demo?.stop();
    await cluster.stop();
    await rm(cluster.plane.kubeconfigPath, { force: true });
  }
  return 0;
}

/** Without a local node: the operator and the xDS server in this process, and the proxyless demo. */
async function runWithoutNode(settings: DevSettings): Promise<number> {
  const { log } = settings;
  log.info("starting etcd and kube-apiserver");
  const plane = await startOrStop(
    LocalControlPlane.start({ kubeconfigPath: settings.kubeconfigPath }),
    settings.stopped,
  );
  if (!plane) return 130;
  let operator: RunningOperator | undefined;
  let xds: RunningXdsServer | undefined;
  let demo: { stop(): Promise<void> } | undefined;
  try {
    const kubeConfig = plane.kubeConfig();
    await kubeConfig
      .makeApiClient(CoreV1Api)
      .createNamespace({ body: { metadata: { name: ROOT_NAMESPACE } } });
    await applySamples(kubeConfig, settings);
    operator = await startLocalOperator(kubeConfig, await operatorImage(), log);
    log.info({ metrics: `http://127.0.0.1:${operator.httpPort}/metrics` }, "operator running");
    xds = await startXdsServer(kubeConfig, {
      security: { mode: "insecure" },
      logger: log,
      address: "127.0.0.1:0",
      caNamespace: ROOT_NAMESPACE,
    });
    console.log(
      `READY kubeconfig=${plane.kubeconfigPath} apiserver=${plane.apiServerUrl} xds=127.0.0.1:${xds.port}`,
    );
    if (settings.demo)
      demo = await startDemo(kubeConfig, `127.0.0.1:${xds.port}`, {
        logger: log,
        print: (text) => console.log(text),
      });
    const signal = await settings.stopped;
    log.info({ signal }, "stopping");
  } finally {
    await demo?.stop();
    await xds?.stop();
    await operator?.stop();
    await plane.stop();
    await rm(plane.kubeconfigPath, { force: true });
  }
  return 0;
}
