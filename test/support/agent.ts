import { spawn, type ChildProcess } from "node:child_process";
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import type { KubeConfig } from "@kubernetes/client-node";
import { repositoryRoot } from "../../src/controlplane/binaries.js";
import { CERTIFICATE_CHAIN_FILE } from "../../src/agent/certificate-files.js";
import { eventually } from "../integration/kubectl.js";
import { serviceAccountToken } from "./mesh-test-kit.js";

export interface RunningAgent {
  readonly process: ChildProcess;
  readonly certDir: string;
  /** The gRPC xDS bootstrap the agent wrote. */
  readonly bootstrapFile: string;
  /** The workload certificate on disk now, or undefined before the first one. */
  certificate(): X509Certificate | undefined;
  stop(): Promise<void>;
}

/** An xDS server in TLS mode, as an agent dials it. */
export interface XdsTls {
  trustBundleFile: string;
  serverName: string;
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
  /** The xDS server in TLS mode: the mesh roots and the name it serves. Absent: plaintext. */
  tls?: XdsTls;
  /** Environment variables the agent reads, such as SECRET_TTL. */
  env?: Record<string, string>;
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
      ...(options.tls
        ? ["--trust-bundle", options.tls.trustBundleFile, "--xds-server-name", options.tls.serverName]
        : ["--insecure-xds"]),
      // The application's bootstrap names the agent's xDS proxy socket here.
      "--run-dir",
      options.directory,
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
      env: { ...process.env, SKIFF_LOG_LEVEL: process.env.AGENT_LOG ?? "silent", ...options.env },
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

/**
 * Runs `skiff agent` for a ServiceAccount with a real token from the API
 * server, as the Pod `pod` at `host`, and waits for its first certificate.
 */
export async function startAgentWithCertificate(options: {
  kubeConfig: KubeConfig;
  xdsAddress: string;
  namespace: string;
  serviceAccount: string;
  pod: string;
  host: string;
  /** Where its token, certificate files and bootstrap go (one folder per ServiceAccount below it). */
  directory: string;
  tls?: XdsTls;
  env?: Record<string, string>;
}): Promise<RunningAgent> {
  const { namespace, serviceAccount } = options;
  const tokenFile = join(options.directory, `${serviceAccount}.token`);
  writeFileSync(
    tokenFile,
    await serviceAccountToken(options.kubeConfig, namespace, serviceAccount, "skiff", options.pod),
  );
  const agent = spawnAgent({
    xdsAddress: options.xdsAddress,
    tokenFile,
    directory: join(options.directory, serviceAccount),
    nodeId: `sidecar~${options.host}~${options.pod}.${namespace}~${namespace}.svc.cluster.local`,
    ...(options.tls ? { tls: options.tls } : {}),
    ...(options.env ? { env: options.env } : {}),
  });
  try {
    await eventually(async () => assert.ok(agent.certificate(), `${serviceAccount}: no certificate yet`));
  } catch (error) {
    await agent.stop();
    throw error;
  }
  return agent;
}
