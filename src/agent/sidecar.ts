import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { watchCertificate } from "./certificate-requests.js";
import { startEnvoy } from "./envoy-process.js";
import { serveAppHealth } from "./app-health.js";
import { startSdsServer } from "./sds-server.js";
import { xdsChannel, type XdsChannelSettings } from "./xds-channel.js";
import { startXdsProxy } from "./xds-proxy.js";
import { AGENT_SDS_SOCKET, AGENT_XDS_SOCKET } from "../mesh/proxy.js";

export interface SidecarAgentOptions {
  readonly xds: XdsChannelSettings;
  /** The projected ServiceAccount token (audience skiff). */
  readonly tokenFile: string;
  /** Where the sockets go: a folder only the Pod's containers see. */
  readonly runDirectory: string;
  /** The agent's own node id (see agentNodeId): it never counts as the workload's data plane. */
  readonly agentNodeId: string;
  readonly envoy: { readonly binary: string; readonly args: readonly string[] };
  /** The certificate lifetime to ask for, in seconds (Istio's SECRET_TTL); absent: the Mesh's workloadValidity. */
  readonly certificateValiditySeconds?: number;
  readonly logger: Logger;
}

/**
 * The sidecar container's first process, as Istio's pilot-agent: it serves
 * Envoy's xDS (a proxy to Skiff's xDS server over TLS with the Pod's token)
 * and SDS (the workload certificate, whose key it made) on Unix sockets,
 * starts Envoy, passes SIGTERM and SIGINT on, and exits with Envoy's code.
 * Envoy starts at once: it waits for its first configuration with no
 * timeout, and its mTLS listeners and clusters for their certificate.
 */
export async function runSidecarAgent(options: SidecarAgentOptions): Promise<number> {
  const { logger } = options;
  await serveAppHealth(process.env, logger); // the application's rewritten probes (Istio's /app-health), on 15020
  const token = () => readFile(options.tokenFile, "utf8");
  // One channel (one trust bundle watch, one connection) for the proxy and the certificate requests.
  const channel = xdsChannel(options.xds);
  const xdsProxy = await startXdsProxy({
    address: options.xds.address,
    channel,
    socketPath: join(options.runDirectory, AGENT_XDS_SOCKET),
    token,
    logger,
  });
  const sds = await startSdsServer({ socketPath: join(options.runDirectory, AGENT_SDS_SOCKET), logger });
  const certificates = watchCertificate({
    address: options.xds.address,
    channel,
    node: { id: options.agentNodeId },
    token,
    logger,
    ...(options.certificateValiditySeconds === undefined
      ? {}
      : { validitySeconds: options.certificateValiditySeconds }),
    onCertificate: async (certificate) => sds.update(certificate),
  });
  const envoy = startEnvoy(options.envoy.binary, options.envoy.args, logger);
  const forward = (signal: NodeJS.Signals) => () => envoy.signal(signal);
  process.on("SIGTERM", forward("SIGTERM"));
  process.on("SIGINT", forward("SIGINT"));
  const code = await envoy.exited;
  certificates.stop();
  await Promise.all([sds.stop(), xdsProxy.stop()]);
  return code;
}
