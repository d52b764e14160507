import { CoreV1Api } from "@kubernetes/client-node";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { repositoryRoot } from "../controlplane/binaries.js";
import { LocalControlPlane } from "../controlplane/controlplane.js";
import { applyManifests, readManifests } from "../k8s/manifests.js";
import { createLogger } from "../observability/logger.js";
import { startOperator, type RunningOperator } from "../operator/operator.js";
import { startXdsServer, type RunningXdsServer } from "../xds/xds-server.js";
import { startDemo, type RunningDemo } from "./dev-demo.js";
import { installLocalWebhooks } from "./dev-webhooks.js";
import { operatorImage } from "./image.js";

export const DEV_USAGE = `Usage: skiff dev [--kubeconfig PATH] [--no-samples] [--no-demo]

Runs a local Skiff control plane: a real etcd and kube-apiserver on loopback,
with Skiff's CRDs installed, config/samples applied, and the operator (with
its admission webhooks, which the API server calls) and the xDS server running
in-process. Prints
  READY kubeconfig=<path> apiserver=<url> xds=<host:port>
when it is usable, and serves until interrupted (Ctrl-C), then removes
everything it started. Then it runs a traffic demo (config/samples/demo):
proxyless gRPC servers and a client, routed 90/10 by a TrafficPolicy, and
prints the split the client observes every few seconds.

  --kubeconfig PATH   where to write the kubeconfig (default .skiff/dev/kubeconfig)
  --no-samples        do not apply config/samples, and run no demo
  --no-demo           do not run the traffic demo`;

/** The namespace the control plane runs in; the sample Mesh names it as rootNamespace. */
const ROOT_NAMESPACE = "skiff-system";

export async function runDev(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      kubeconfig: { type: "string", default: join(".skiff", "dev", "kubeconfig") },
      "no-samples": { type: "boolean", default: false },
      "no-demo": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(DEV_USAGE);
    return 0;
  }
  const log = createLogger("skiff-dev");

  // Handlers go in before anything starts, so an early Ctrl-C still cleans up.
  let stopRequested: (signal: string) => void = () => {};
  const stopped = new Promise<string>((resolve) => (stopRequested = resolve));
  const onSignal = (signal: NodeJS.Signals) => stopRequested(signal);
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  log.info("starting etcd and kube-apiserver");
  const startup = LocalControlPlane.start({ kubeconfigPath: values.kubeconfig });
  const first = await Promise.race([startup.then(() => "started"), stopped]);
  const plane = await startup.catch((error: unknown) => {
    if (first !== "started") return undefined; // interrupted: the failure is ours to ignore
    throw error;
  });
  if (!plane || first !== "started") {
    await plane?.stop();
    return 130;
  }
  let operator: RunningOperator | undefined;
  let xds: RunningXdsServer | undefined;
  let demo: RunningDemo | undefined;
  try {
    const kubeConfig = plane.kubeConfig();
    await kubeConfig
      .makeApiClient(CoreV1Api)
      .createNamespace({ body: { metadata: { name: ROOT_NAMESPACE } } });
    if (!values["no-samples"]) {
      const samples = await readManifests(join(repositoryRoot(), "config", "samples"));
      await applyManifests(kubeConfig, "skiff/dev", samples);
      log.info({ count: samples.length }, "applied config/samples");
    }
    operator = await startOperator(kubeConfig, {
      logger: log,
      image: await operatorImage(),
      httpAddress: "127.0.0.1:0",
      leaderElection: true,
      leaseNamespace: ROOT_NAMESPACE,
      webhook: {
        address: "127.0.0.1:0",
        namespace: ROOT_NAMESPACE,
        secretName: "skiff-webhook-tls",
        hosts: ["127.0.0.1"],
      },
    });
    await installLocalWebhooks(kubeConfig, operator.webhook!.port, operator.webhook!.caBundle());
    log.info({ metrics: `http://127.0.0.1:${operator.httpPort}/metrics` }, "operator running");
    xds = await startXdsServer(kubeConfig, {
      logger: log,
      address: "127.0.0.1:0",
      caNamespace: ROOT_NAMESPACE,
    });
    console.log(
      `READY kubeconfig=${plane.kubeconfigPath} apiserver=${plane.apiServerUrl} xds=127.0.0.1:${xds.port}`,
    );
    if (!values["no-samples"] && !values["no-demo"]) {
      demo = await startDemo(kubeConfig, `127.0.0.1:${xds.port}`, {
        logger: log,
        print: (text) => console.log(text),
      });
    }
    const signal = await stopped;
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
