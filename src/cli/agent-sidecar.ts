import { parseArgs } from "node:util";
import { runSidecarAgent, type SidecarAgentOptions } from "../agent/sidecar.js";
import { createLogger } from "../observability/logger.js";
import { agentNodeId, podNodeId } from "../agent/node-ids.js";
import { XDS_CHANNEL_OPTIONS, XDS_CHANNEL_USAGE, xdsChannelSettings } from "./agent-channel.js";
import { AGENT_RUN_DIRECTORY } from "../mesh/proxy.js";
import { SECRET_TTL_USAGE, secretTtlSeconds } from "./secret-ttl.js";

const USAGE = `Usage: skiff agent sidecar [options] -- <Envoy arguments>

The Envoy sidecar container's first process, as Istio's pilot-agent. It
makes the Pod's private key (it never leaves the Pod) and gets its
certificate from Skiff's xDS server by CSR; serves Envoy its xDS (carried to
the xDS server over TLS with the Pod's token) and its certificate (SDS) on
Unix sockets in --run-dir; starts Envoy with the arguments after --; passes
SIGTERM on; and exits with Envoy's exit code.

${XDS_CHANNEL_USAGE}
  --token-file PATH         projected ServiceAccount token, audience skiff
                            (default /var/run/secrets/skiff/tokens/token)
  --run-dir PATH            where the sockets go (default /var/run/skiff)
  --envoy-binary PATH       Envoy (default $SKIFF_ENVOY_BINARY, else envoy on the PATH)
  --node-id ID              the Pod's node id (default built from $POD_IP, $POD_NAME, $POD_NAMESPACE)

${SECRET_TTL_USAGE}`;

/** The parsed command line, or a usage error; pure. */
export function sidecarAgentArguments(
  argv: string[],
  env: Record<string, string | undefined>,
): { help: true } | { error: string } | Omit<SidecarAgentOptions, "logger"> {
  const dashes = argv.indexOf("--");
  const own = dashes === -1 ? argv : argv.slice(0, dashes);
  const { values } = parseArgs({
    args: own,
    options: {
      ...XDS_CHANNEL_OPTIONS,
      "token-file": { type: "string", default: "/var/run/secrets/skiff/tokens/token" },
      "run-dir": { type: "string", default: AGENT_RUN_DIRECTORY },
      "envoy-binary": { type: "string" },
      "node-id": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return { help: true };
  if (dashes === -1) return { error: "give Envoy's arguments after --" };
  const nodeId = values["node-id"] ?? podNodeId(env);
  if (!nodeId)
    return { error: "--node-id is required unless POD_IP, POD_NAME and POD_NAMESPACE are all set" };
  const xds = xdsChannelSettings(values);
  if ("error" in xds) return xds;
  const ttl = secretTtlSeconds(env.SECRET_TTL);
  if (typeof ttl === "object") return ttl;
  return {
    ...(ttl === undefined ? {} : { certificateValiditySeconds: ttl }),
    xds,
    tokenFile: values["token-file"],
    runDirectory: values["run-dir"],
    agentNodeId: agentNodeId(nodeId),
    envoy: {
      binary: values["envoy-binary"] ?? env.SKIFF_ENVOY_BINARY ?? "envoy",
      args: argv.slice(dashes + 1),
    },
  };
}

export async function runSidecarAgentCommand(argv: string[]): Promise<number> {
  const parsed = sidecarAgentArguments(argv, process.env);
  if ("help" in parsed) {
    console.log(USAGE);
    return 0;
  }
  if ("error" in parsed) {
    console.error(`skiff agent sidecar: ${parsed.error}\n\n${USAGE}`);
    return 2;
  }
  return runSidecarAgent({ ...parsed, logger: createLogger("agent") });
}
