import { parseArgs } from "node:util";
import { loadKubeConfig } from "../k8s/kubeconfig.js";
import { createLogger } from "../observability/logger.js";
import { startProbeServer } from "../observability/server.js";
import { startXdsServer } from "../xds/xds-server.js";

const USAGE = `Usage: skiff xds [options]

Serves Envoy configuration over ADS (state of the world and delta): watches
Services, EndpointSlices, Pods, Namespaces, TrafficPolicies and the Mesh,
compiles them, and pushes every change to the connected proxies.

  --kubeconfig PATH          kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, then in-cluster)
  --address HOST:PORT        serve ADS here (default 0.0.0.0:15010)
  --http-address HOST:PORT   serve /healthz, /readyz and /metrics here (default :15014)
  --debounce-ms N            coalesce cluster changes for at most this long (default 50)
  --status-lease-namespace   namespace of the skiff-xds-status Lease that elects the replica writing
                             TrafficPolicy status (default: $POD_NAMESPACE or skiff-system)`;

export async function runXds(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      kubeconfig: { type: "string" },
      address: { type: "string", default: "0.0.0.0:15010" },
      "http-address": { type: "string", default: ":15014" },
      "debounce-ms": { type: "string", default: "50" },
      "status-lease-namespace": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const debounceMs = Number(values["debounce-ms"]);
  if (!Number.isInteger(debounceMs) || debounceMs < 0) {
    console.error(
      `skiff xds: --debounce-ms must be a whole number of milliseconds, not '${values["debounce-ms"]}'`,
    );
    return 2;
  }
  const logger = createLogger("skiff-xds");
  const colon = values["http-address"].lastIndexOf(":");
  const probes = await startProbeServer({
    host: values["http-address"].slice(0, colon) || "0.0.0.0",
    port: Number(values["http-address"].slice(colon + 1)),
    ready: () => server !== undefined,
  });
  let server: Awaited<ReturnType<typeof startXdsServer>> | undefined;
  try {
    server = await startXdsServer(loadKubeConfig(values.kubeconfig), {
      logger,
      address: values.address,
      debounceMs,
      statusLeaseNamespace: values["status-lease-namespace"] ?? process.env.POD_NAMESPACE ?? "skiff-system",
      // The Mesh reconciler runs the xDS server in the root namespace, next to the CA Secret.
      caNamespace: process.env.POD_NAMESPACE ?? "skiff-system",
    });
    logger.info({ port: server.port, httpPort: probes.port }, "xDS server running");
    const signal = await new Promise<string>((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
    });
    logger.info({ signal }, "draining");
  } finally {
    await server?.stop();
    await probes.close();
  }
  return 0;
}
