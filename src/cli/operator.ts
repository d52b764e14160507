import { parseArgs } from "node:util";
import { loadKubeConfig } from "../k8s/kubeconfig.js";
import { createLogger } from "../observability/logger.js";
import { startOperator } from "../operator/operator.js";
import { operatorImage } from "./image.js";

const USAGE = `Usage: skiff operator [options]

Runs Skiff's controllers against a cluster, behind leader election.

  --kubeconfig PATH             kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, then in-cluster)
  --http-address HOST:PORT      serve /healthz, /readyz and /metrics here (default :8081)
  --leader-elect=false          run the controllers without leader election
  --leader-election-namespace   namespace of the skiff-operator Lease (default: $POD_NAMESPACE or skiff-system)
  --image IMAGE                 the image this operator runs, used for the xDS server (default: $SKIFF_IMAGE)
  --webhook-address HOST:PORT   serve the admission webhooks here (default :9443; empty turns them off)
  --webhook-service NAME        the webhook Service, whose DNS names the serving certificate covers (default skiff-webhook)
  --webhook-secret NAME         the Secret holding the webhooks' CA and serving certificate (default skiff-webhook-tls)`;

export async function runOperator(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      kubeconfig: { type: "string" },
      "http-address": { type: "string", default: ":8081" },
      "leader-elect": { type: "string", default: "true" },
      "leader-election-namespace": { type: "string" },
      image: { type: "string" },
      "webhook-address": { type: "string", default: ":9443" },
      "webhook-service": { type: "string", default: "skiff-webhook" },
      "webhook-secret": { type: "string", default: "skiff-webhook-tls" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const logger = createLogger("skiff-operator");
  const namespace = values["leader-election-namespace"] ?? process.env.POD_NAMESPACE ?? "skiff-system";
  const service = values["webhook-service"];
  const operator = await startOperator(loadKubeConfig(values.kubeconfig), {
    logger,
    image: values.image ?? (await operatorImage()),
    httpAddress: values["http-address"],
    leaderElection: values["leader-elect"] !== "false",
    leaseNamespace: namespace,
    ...(values["webhook-address"]
      ? {
          webhook: {
            address: values["webhook-address"],
            namespace,
            secretName: values["webhook-secret"],
            hosts: [
              `${service}.${namespace}.svc`,
              `${service}.${namespace}.svc.cluster.local`,
              `${service}.${namespace}`,
              service,
            ],
          },
        }
      : {}),
  });
  logger.info({ httpPort: operator.httpPort }, "operator running");
  const signal = await new Promise<string>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  logger.info({ signal }, "draining");
  await operator.stop();
  return 0;
}
