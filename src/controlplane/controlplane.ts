import type { KubeConfig } from "@kubernetes/client-node";
import { mkdtempSync, rmSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { kubeConfigFromYaml, kubeconfigYaml } from "../k8s/kubeconfig.js";
import { startApiServer, type RunningApiServer } from "./apiserver.js";
import { findBinaries, repositoryRoot, type ControlPlaneBinaries } from "./binaries.js";
import { installCrds, readCrds } from "./crds.js";
import { startEtcd, type RunningEtcd } from "./etcd.js";
import { createLocalPki, type LocalPki } from "./pki.js";

export interface LocalControlPlaneOptions {
  /** Folder of CRD YAML to install; defaults to the repository's crds/. Set to null to install none. */
  crdDirectory?: string | null;
  /** Also write the kubeconfig here (it is always written inside the work folder). */
  kubeconfigPath?: string;
  /** Build the binaries if they are missing (default true). */
  build?: boolean;
}

/** KUBEBUILDER_CONTROLPLANE_START_TIMEOUT as envtest reads it ("60s", "2m"), in milliseconds. */
function startTimeoutMs(): number {
  const raw = process.env.KUBEBUILDER_CONTROLPLANE_START_TIMEOUT;
  const match = raw?.match(/^(\d+)(ms|s|m)?$/);
  if (!match) return 60_000;
  const unit = { ms: 1, s: 1000, m: 60_000 }[match[2] ?? "s"] ?? 1000;
  return Number(match[1]) * unit;
}

const workDirs = new Set<string>();
process.on("exit", () => {
  for (const dir of workDirs) rmSync(dir, { recursive: true, force: true });
});
// Turn a fatal signal into an orderly exit, so that the exit hook above and
// the child-process reaper in process.ts run. Only a fallback: when the
// program has its own handler (`skiff dev` stops gracefully), it decides.
const EXIT_CODES = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
for (const [signal, code] of Object.entries(EXIT_CODES)) {
  const fallback = () => {
    if (process.listenerCount(signal) > 1) return;
    process.exit(code);
  };
  process.on(signal, fallback);
}

/**
 * A real etcd and kube-apiserver on loopback, in the manner of envtest:
 * throwaway certificates, an admin client certificate in system:masters,
 * RBAC on, Skiff's CRDs installed and Established. Nothing outlives `stop()`
 * or this process: no child process and no temporary folder.
 */
export class LocalControlPlane {
  private constructor(
    readonly binaries: ControlPlaneBinaries,
    readonly workDir: string,
    private readonly etcd: RunningEtcd,
    private apiServer: RunningApiServer,
    private readonly pki: LocalPki,
    /** The kubeconfig, with certificates embedded. */
    readonly kubeconfig: string,
    /** Where the kubeconfig file is. */
    readonly kubeconfigPath: string,
  ) {}

  get apiServerUrl(): string {
    return this.apiServer.url;
  }

  get etcdUrl(): string {
    return this.etcd.clientUrl;
  }

  /**
   * Stops kube-apiserver and starts it again on the same port with the same
   * data, as a control-plane upgrade or crash would: every watch breaks, and
   * clients must resume or relist.
   */
  async restartApiServer(): Promise<void> {
    const port = Number(new URL(this.apiServer.url).port);
    await this.apiServer.process.stop();
    this.apiServer = await startApiServer(
      this.binaries.kubeApiserver,
      join(this.workDir, "kube-apiserver"),
      this.etcd.clientUrl,
      this.pki,
      startTimeoutMs(),
      port,
    );
  }

  /** The process ids of etcd and kube-apiserver. */
  get processIds(): number[] {
    return [this.etcd.process.pid, this.apiServer.process.pid].filter((p): p is number => p !== undefined);
  }

  /** A fresh client configuration for the admin user. */
  kubeConfig(): KubeConfig {
    return kubeConfigFromYaml(this.kubeconfig);
  }

  static async start(options: LocalControlPlaneOptions = {}): Promise<LocalControlPlane> {
    const binaries = await findBinaries({ build: options.build ?? true });
    const attempts = 3;
    for (let attempt = 1; ; attempt++) {
      try {
        return await LocalControlPlane.startOnce(binaries, options);
      } catch (error) {
        // The usual cause is another process taking a port we picked; new ports fix it.
        if (attempt >= attempts) throw error;
        process.stderr.write(`local control plane: attempt ${attempt} failed, retrying: ${String(error)}\n`);
      }
    }
  }

  private static async startOnce(binaries: ControlPlaneBinaries, options: LocalControlPlaneOptions) {
    const workDir = mkdtempSync(join(tmpdir(), "skiff-controlplane-"));
    workDirs.add(workDir);
    let etcd: RunningEtcd | undefined;
    let apiServer: RunningApiServer | undefined;
    try {
      const timeout = startTimeoutMs();
      const pki = await createLocalPki();
      etcd = await startEtcd(binaries.etcd, join(workDir, "etcd"), timeout);
      const apiDir = join(workDir, "kube-apiserver");
      await mkdir(apiDir, { recursive: true });
      apiServer = await startApiServer(binaries.kubeApiserver, apiDir, etcd.clientUrl, pki, timeout);
      const kubeconfig = kubeconfigYaml({
        name: "skiff-local",
        server: apiServer.url,
        caPem: pki.ca.certPem,
        certPem: pki.admin.certPem,
        keyPem: pki.admin.keyPem,
      });
      const kubeconfigPath = resolve(options.kubeconfigPath ?? join(workDir, "kubeconfig"));
      await mkdir(dirname(kubeconfigPath), { recursive: true });
      await writeFile(kubeconfigPath, kubeconfig, { mode: 0o600 });
      const plane = new LocalControlPlane(
        binaries,
        workDir,
        etcd,
        apiServer,
        pki,
        kubeconfig,
        kubeconfigPath,
      );
      const crdDirectory =
        options.crdDirectory === undefined ? join(repositoryRoot(), "crds") : options.crdDirectory;
      if (crdDirectory !== null) await installCrds(plane.kubeConfig(), await readCrds(crdDirectory));
      return plane;
    } catch (error) {
      await apiServer?.process.stop();
      await etcd?.process.stop();
      rmSync(workDir, { recursive: true, force: true });
      workDirs.delete(workDir);
      throw error;
    }
  }

  /** Stops kube-apiserver, then etcd, and removes the work folder. Safe to call twice. */
  async stop(): Promise<void> {
    await this.apiServer.process.stop();
    await this.etcd.process.stop();
    rmSync(this.workDir, { recursive: true, force: true });
    workDirs.delete(this.workDir);
  }
}
