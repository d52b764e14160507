import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { X509Certificate } from "node:crypto";
import { replace, writeCertificateFiles } from "../agent/certificate-files.js";
import { grpcBootstrap } from "../agent/grpc-bootstrap.js";
import { watchCertificate } from "../agent/certificate-requests.js";
import { xdsChannel, type XdsChannelSettings } from "../agent/xds-channel.js";
import { startXdsProxy } from "../agent/xds-proxy.js";
import { AGENT_RUN_DIRECTORY, AGENT_XDS_SOCKET } from "../mesh/proxy.js";
import { join } from "node:path";
import { XDS_CHANNEL_OPTIONS, XDS_CHANNEL_USAGE, xdsChannelSettings } from "./agent-channel.js";
import { agentNodeId, podNodeId } from "../agent/node-ids.js";
import { CLUSTER_DOMAIN } from "../compile/state.js";
import { createLogger } from "../observability/logger.js";
import { SECRET_TTL_USAGE, secretTtlSeconds } from "./secret-ttl.js";

const USAGE = `Usage: skiff agent [options]
       skiff agent sidecar [options] -- <Envoy arguments>   (see skiff agent sidecar --help)

Keeps a proxyless gRPC application's workload certificate on disk, and
writes its xDS bootstrap. It makes the Pod's private key itself (it never
leaves the Pod), proves the Pod's ServiceAccount to Skiff's xDS server with
the projected token, gets the certificate by CSR and the trust bundle over
SDS, and rewrites cert-chain.pem, key.pem and root-cert.pem at each renewal
(80% of the certificate's life, with a new key) and each bundle change. gRPC's file_watcher certificate provider, named in
the bootstrap, reloads them: no restart, no reconnect.

${XDS_CHANNEL_USAGE}
  --token-file PATH         projected ServiceAccount token, audience skiff
                            (default /var/run/secrets/tokens/skiff-token)
  --cert-dir PATH           where to write the certificate files (default /var/run/skiff/certs)
  --bootstrap-file PATH     where to write the gRPC xDS bootstrap (default /var/run/skiff/grpc-bootstrap.json);
                            point GRPC_XDS_BOOTSTRAP at it
  --run-dir PATH            where the xDS proxy's socket goes, which the bootstrap names (default /var/run/skiff)
  --node-id ID              the application's node id (default built from $POD_IP, $POD_NAME, $POD_NAMESPACE:
                            sidecar~<ip>~<pod>.<namespace>~<namespace>.svc.${CLUSTER_DOMAIN})
  --refresh-seconds N       how often gRPC re-reads the files (default 60)

${SECRET_TTL_USAGE}`;

export interface AgentArguments {
  readonly xds: XdsChannelSettings;
  readonly tokenFile: string;
  readonly certDir: string;
  readonly bootstrapFile: string;
  /** Where the agent's xDS proxy listens for the application (see startXdsProxy). */
  readonly xdsSocket: string;
  readonly nodeId: string;
  readonly refreshSeconds: number;
  /** The certificate lifetime to ask for, in seconds (SECRET_TTL); absent: the Mesh's workloadValidity. */
  readonly certificateValiditySeconds?: number;
}

/** The parsed command line, or a usage error; pure. */
export function agentArguments(
  argv: string[],
  env: Record<string, string | undefined>,
): { help: true } | { error: string } | AgentArguments {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...XDS_CHANNEL_OPTIONS,
      "token-file": { type: "string", default: "/var/run/secrets/tokens/skiff-token" },
      "cert-dir": { type: "string", default: "/var/run/skiff/certs" },
      "bootstrap-file": { type: "string", default: "/var/run/skiff/grpc-bootstrap.json" },
      "run-dir": { type: "string", default: AGENT_RUN_DIRECTORY },
      "node-id": { type: "string" },
      "refresh-seconds": { type: "string", default: "60" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return { help: true };
  const refreshSeconds = Number(values["refresh-seconds"]);
  if (!Number.isInteger(refreshSeconds) || refreshSeconds < 1)
    return {
      error: `--refresh-seconds must be a whole number of seconds, at least 1, not '${values["refresh-seconds"]}'`,
    };
  const xds = xdsChannelSettings(values);
  if ("error" in xds) return xds;
  const nodeId = values["node-id"] ?? podNodeId(env);
  if (!nodeId)
    return { error: "--node-id is required unless POD_IP, POD_NAME and POD_NAMESPACE are all set" };
  const ttl = secretTtlSeconds(env.SECRET_TTL);
  if (typeof ttl === "object") return ttl;
  return {
    ...(ttl === undefined ? {} : { certificateValiditySeconds: ttl }),
    xds,
    tokenFile: values["token-file"],
    certDir: values["cert-dir"],
    bootstrapFile: values["bootstrap-file"],
    xdsSocket: join(values["run-dir"], AGENT_XDS_SOCKET),
    nodeId,
    refreshSeconds,
  };
}

export async function runAgent(argv: string[]): Promise<number> {
  if (argv[0] === "sidecar")
    return (await import("./agent-sidecar.js")).runSidecarAgentCommand(argv.slice(1));
  const parsed = agentArguments(argv, process.env);
  if ("help" in parsed) {
    console.log(USAGE);
    return 0;
  }
  if ("error" in parsed) {
    console.error(`skiff agent: ${parsed.error}\n\n${USAGE}`);
    return 2;
  }
  const logger = createLogger("agent");
  const token = () => readFile(parsed.tokenFile, "utf8");
  // Listening before the bootstrap that names it exists.
  // One channel (one trust bundle watch, one connection) for the proxy and the certificate requests.
  const channel = xdsChannel(parsed.xds);
  const proxy = await startXdsProxy({
    address: parsed.xds.address,
    channel,
    socketPath: parsed.xdsSocket,
    token,
    logger,
  });
  await replace(
    parsed.bootstrapFile,
    `${JSON.stringify(
      grpcBootstrap({
        // The application dials the agent: grpc-js-xds can neither trust the mesh root nor send a token.
        xdsAddress: `unix:${parsed.xdsSocket}`,
        nodeId: parsed.nodeId,
        certificateDirectory: parsed.certDir,
        refreshIntervalSeconds: parsed.refreshSeconds,
      }),
      null,
      2,
    )}\n`,
    0o644,
  );
  const watch = watchCertificate({
    address: parsed.xds.address,
    channel,
    node: { id: agentNodeId(parsed.nodeId) },
    token,
    logger,
    ...(parsed.certificateValiditySeconds === undefined
      ? {}
      : { validitySeconds: parsed.certificateValiditySeconds }),
    onCertificate: async (certificate) => {
      await writeCertificateFiles(parsed.certDir, certificate);
      const leaf = new X509Certificate(certificate.certificateChainPem);
      logger.info(
        { identity: leaf.subjectAltName, serial: leaf.serialNumber, notAfter: leaf.validTo },
        "wrote the workload certificate",
      );
    },
  });
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  watch.stop();
  await proxy.stop();
  return 0;
}
