import { parseArgs } from "node:util";
import { loadKubeConfig } from "../k8s/kubeconfig.js";
import { createLogger } from "../observability/logger.js";
import { listenAddress } from "../net/listen-address.js";
import { startProbeServer } from "../observability/server.js";
import { readFile } from "node:fs/promises";
import { startXdsServer, type OtherReplicaSettings, type XdsServerOptions } from "../xds/xds-server.js";
import { XDS_GRPC_PORT_NAME, XDS_NAME, XDS_TOKEN_FILE, xdsServerNames } from "../mesh/names.js";
import { CLUSTER_DOMAIN } from "../compile/state.js";

const USAGE = `Usage: skiff xds [options]

Serves Envoy configuration over ADS (state of the world and delta): watches
Services, EndpointSlices, Pods, Namespaces, TrafficPolicies and the Mesh,
compiles them, and pushes every change to the connected proxies.

  --kubeconfig PATH          kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, then in-cluster)
  --address HOST:PORT        serve ADS here (default 0.0.0.0:15010)
  --http-address HOST:PORT   serve /healthz, /readyz and /metrics here (default :15014)
  --debounce-ms N            after a run, fold cluster changes for at most this long (default 50)
  --status-lease-namespace   namespace of the skiff-xds-status Lease that elects the replica writing
                             TrafficPolicy status (default: $POD_NAMESPACE or skiff-system)
  --peer HOST:PORT           another replica of this server, whose proxies count in policy status
                             and the Mesh's connectedProxies (repeatable). Default: in a Pod
                             ($POD_NAME set), the endpoints of the skiff-xds Service; else none
  --token-file PATH          this replica's ServiceAccount token (audience skiff), sent when asking
                             the other replicas (default /var/run/secrets/skiff/tokens/token)
  --insecure                 serve plaintext, and serve proxies that send no token (without
                             certificates): for local experiments only. By default the server
                             serves TLS with a certificate from the mesh CA for its Service's
                             names, and refuses any stream without a valid token.`;

/** The parsed command line, or a usage error; pure, so what reaches startXdsServer is testable. */
export function xdsArguments(
  argv: string[],
  env: Record<string, string | undefined>,
):
  | { help: true }
  | { error: string }
  | { kubeconfig?: string; httpAddress: string; options: Omit<XdsServerOptions, "logger"> } {
  const { values } = parseArgs({
    args: argv,
    options: {
      kubeconfig: { type: "string" },
      address: { type: "string", default: "0.0.0.0:15010" },
      "http-address": { type: "string", default: ":15014" },
      "debounce-ms": { type: "string", default: "50" },
      "status-lease-namespace": { type: "string" },
      peer: { type: "string", multiple: true },
      "token-file": { type: "string", default: XDS_TOKEN_FILE },
      insecure: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return { help: true };
  const debounceMs = Number(values["debounce-ms"]);
  if (!Number.isInteger(debounceMs) || debounceMs < 0)
    return { error: `--debounce-ms must be a whole number of milliseconds, not '${values["debounce-ms"]}'` };
  // The Mesh reconciler runs the xDS server in the root namespace, next to the CA Secret.
  const namespace = env.POD_NAMESPACE ?? "skiff-system";
  const tokenFile = values["token-file"];
  const token = () => readFile(tokenFile, "utf8").then((t) => t.trim());
  const peers = values.peer?.map((address) => ({ name: address, address }));
  const replicas: OtherReplicaSettings | undefined = peers
    ? { peers, token }
    : env.POD_NAME
      ? { peers: { service: XDS_NAME, portName: XDS_GRPC_PORT_NAME, self: env.POD_NAME }, token }
      : undefined;
  return {
    ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
    httpAddress: values["http-address"],
    options: {
      address: values.address,
      debounceMs,
      statusLeaseNamespace: values["status-lease-namespace"] ?? namespace,
      caNamespace: namespace,
      ...(replicas ? { replicas } : {}),
      security: values.insecure
        ? { mode: "insecure" }
        : { mode: "tls", serverNames: xdsServerNames(namespace, CLUSTER_DOMAIN) },
    },
  };
}

export async function runXds(argv: string[]): Promise<number> {
  const parsed = xdsArguments(argv, process.env);
  if ("help" in parsed) {
    console.log(USAGE);
    return 0;
  }
  if ("error" in parsed) {
    console.error(`skiff xds: ${parsed.error}`);
    return 2;
  }
  const logger = createLogger("skiff-xds");
  const probes = await startProbeServer({
    ...listenAddress(parsed.httpAddress),
    ready: () => server !== undefined,
  });
  let server: Awaited<ReturnType<typeof startXdsServer>> | undefined;
  try {
    server = await startXdsServer(loadKubeConfig(parsed.kubeconfig), { logger, ...parsed.options });
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
