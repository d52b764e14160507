import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import { repositoryRoot } from "../../src/controlplane/binaries.js";
import { CERTIFICATE_CHAIN_FILE } from "../../src/agent/certificate-files.js";

export interface RunningAgent {
  readonly process: ChildProcess;
  readonly certDir: string;
  /** The gRPC xDS bootstrap the agent wrote. */
  readonly bootstrapFile: string;
  /** The workload certificate on disk now, or undefined before the first one. */
  certificate(): X509Certificate | undefined;
  stop(): Promise<void>;
}

/**
 * Runs `skiff agent` from source, as a proxyless gRPC Pod would: it proves
 * the ServiceAccount of `tokenFile` to the xDS server and keeps the
 * certificate files in `directory`, refreshed every second.
 */
export function spawnAgent(options: {
  xdsAddress: string;
  tokenFile: string;
  directory: string;
  nodeId: string;
}): RunningAgent {
  const certDir = join(options.directory, "certs");
  const bootstrapFile = join(options.directory, "grpc-bootstrap.json");
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "src/cli/main.ts",
      "agent",
      "--xds-address",
      options.xdsAddress,
      "--token-file",
      options.tokenFile,
      "--cert-dir",
      certDir,
      "--bootstrap-file",
      bootstrapFile,
      "--node-id",
      options.nodeId,
      "--refresh-seconds",
      "1",
    ],
    {
      cwd: repositoryRoot(),
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, SKIFF_LOG_LEVEL: process.env.AGENT_LOG ?? "silent" },
    },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    process: child,
    certDir,
    bootstrapFile,
    certificate() {
      const file = join(certDir, CERTIFICATE_CHAIN_FILE);
      return existsSync(file) ? new X509Certificate(readFileSync(file)) : undefined;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}
