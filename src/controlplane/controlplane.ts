import type { KubeConfig } from "@kubernetes/client-node";
import { mkdtempSync, rmSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { kubeConfigFromYaml, kubeconfigYaml } from "../k8s/kubeconfig.js";
import { startApiServer, type ApiServerOptions, type RunningApiServer } from "./apiserver.js";
import { findBinaries, repositoryRoot, type ControlPlaneBinaries } from "./binaries.js";
import { startControllerManager, type RunningControllerManager } from "./controller-manager.js";
import { installCrds, readCrds } from "./crds.js";
import { startEtcd, type RunningEtcd } from "./etcd.js";
import { createLocalPki, issueFromLocalCa, KUBELET_CLIENT_USER, type LocalPki } from "./pki.js";

export interface LocalControlPlaneOptions {
  /** Folder of CRD YAML to install; defaults to the repository's crds/. Set to null to install none. */
  crdDirectory?: string | null;
  /** Also write the kubeconfig here (it is always written inside the work folder). */
  kubeconfigPath?: string;
  /** Build the binaries if they are missing (default true). */
  build?: boolean;
  /**
   * Also run kube-controller-manager (default false), and the API server's
   * ServiceAccount admission plugin with it: namespaces get their `default`
   * ServiceAccount and `kube-root-ca.crt`, Deployments their ReplicaSets and
   * Pods, Services their EndpointSlices, and garbage collection follows owner
   * references. Pods still never run: there is no node.
   */
  controllerManager?: boolean;
  /** Have kube-apiserver write an audit log of every request (default false); see `auditLogPath`. */
  auditLog?: boolean;
}

/** What a local node's kubelet server needs: its serving certificate, and how to recognise the API server. */
export interface KubeletCredentials {
  /** The CA that signed the API server's kubelet client certificate (and the serving certificate). */
  caPem: string;
  /** A serving certificate for localhost and 127.0.0.1, the address the node publishes. */
  certPem: string;
  keyPem: string;
  /** The only client user the kubelet server answers: the API server's. */
  clientUser: string;
}

/** What `clientKubeconfig` makes credentials for. */
export interface ClientKubeconfigRequest {
  /** The user name (the certificate's CN), such as `system:kube-proxy`. */
  user: string;
  /** Groups (the certificate's O), such as `system:nodes`. */
  groups?: string[];
  /** The API server address to write; default: the API server's own URL. */
  server?: string;
  /**
   * The name to check the API server's certificate against when `server` is
   * an address the certificate lacks (it has localhost, 127.0.0.1, 10.0.0.1,
   * kubernetes, kubernetes.default, kubernetes.default.svc and
   * kubernetes.default.svc.cluster.local).
   */
  tlsServerName?: string;
  /** Names the cluster, user and context in the file; default: the user name. */
  name?: string;
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
 * RBAC on, Skiff's CRDs installed and Established; optionally a real
 * kube-controller-manager too. Nothing outlives `stop()` or this process: no
 * child process and no temporary folder.
 */
export class LocalControlPlane {
  private constructor(
    readonly binaries: ControlPlaneBinaries,
    readonly workDir: string,
    private readonly etcd: RunningEtcd,
    private apiServer: RunningApiServer,
    private readonly apiServerOptions: ApiServerOptions,
    private readonly controllerManager: RunningControllerManager | undefined,
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

  /** The API server's audit log (JSON lines), when started with `auditLog`; it survives restartApiServer. */
  get auditLogPath(): string | undefined {
    return this.apiServerOptions.auditLogPath;
  }

  /**
   * Stops kube-apiserver and starts it again on the same port with the same
   * data and flags, as a control-plane upgrade or crash would: every watch
   * breaks, and clients must resume or relist (kube-controller-manager, if it
   * runs, keeps running and reconnects like any other client).
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
      this.apiServerOptions,
    );
  }

  /** The process ids of etcd, kube-apiserver and (when it runs) kube-controller-manager. */
  get processIds(): number[] {
    return [this.etcd.process.pid, this.apiServer.process.pid, this.controllerManager?.process.pid].filter(
      (p): p is number => p !== undefined,
    );
  }

  /**
   * A kubeconfig (YAML, certificates embedded) for another local component:
   * a client certificate from the local CA for `user` in `groups`, valid as
   * long as this control plane's CA. What the user may do is up to RBAC: the
   * default policy already grants system:kube-proxy (ClusterRole
   * system:node-proxier), system:kube-scheduler and
   * system:kube-controller-manager their permissions; other users need
   * bindings.
   */
  async clientKubeconfig(request: ClientKubeconfigRequest): Promise<string> {
    const pair = await issueFromLocalCa(this.pki, {
      kind: "client",
      user: request.user,
      groups: request.groups ?? [],
    });
    return kubeconfigYaml({
      name: request.name ?? request.user,
      server: request.server ?? this.apiServer.url,
      tlsServerName: request.tlsServerName,
      caPem: this.pki.ca.certPem,
      certPem: pair.certPem,
      keyPem: pair.keyPem,
    });
  }

  /** Credentials for a local node's kubelet server (see KubeletCredentials). */
  async kubeletCredentials(): Promise<KubeletCredentials> {
    const serving = await issueFromLocalCa(this.pki, {
      kind: "server",
      commonName: "skiff-local-kubelet",
      dnsNames: ["localhost"],
      ipAddresses: ["127.0.0.1"],
    });
    return {
      caPem: this.pki.ca.certPem,
      certPem: serving.certPem,
      keyPem: serving.keyPem,
      clientUser: KUBELET_CLIENT_USER,
    };
  }

  /** A fresh client configuration for the admin user. */
  kubeConfig(): KubeConfig {
    return kubeConfigFromYaml(this.kubeconfig);
  }

  static async start(options: LocalControlPlaneOptions = {}): Promise<LocalControlPlane> {
    const binaries = await findBinaries({
      build: options.build ?? true,
      include: options.controllerManager ? ["kube-controller-manager"] : [],
    });
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
    let controllerManager: RunningControllerManager | undefined;
    try {
      const timeout = startTimeoutMs();
      const pki = await createLocalPki();
      etcd = await startEtcd(binaries.etcd, join(workDir, "etcd"), timeout);
      const apiDir = join(workDir, "kube-apiserver");
      await mkdir(apiDir, { recursive: true });
      const withControllerManager = options.controllerManager ?? false;
      const apiServerOptions: ApiServerOptions = {
        serviceAccountAdmission: withControllerManager,
        quickShutdown: withControllerManager,
        ...(options.auditLog ? { auditLogPath: join(apiDir, "audit.log") } : {}),
      };
      apiServer = await startApiServer(
        binaries.kubeApiserver,
        apiDir,
        etcd.clientUrl,
        pki,
        timeout,
        undefined,
        apiServerOptions,
      );
      if (withControllerManager) {
        if (!binaries.kubeControllerManager) throw new Error("kube-controller-manager was not found");
        controllerManager = await startControllerManager(
          binaries.kubeControllerManager,
          join(workDir, "kube-controller-manager"),
          apiServer.url,
          pki,
          timeout,
        );
      }
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
        apiServerOptions,
        controllerManager,
        pki,
        kubeconfig,
        kubeconfigPath,
      );
      const crdDirectory =
        options.crdDirectory === undefined ? join(repositoryRoot(), "crds") : options.crdDirectory;
      if (crdDirectory !== null) await installCrds(plane.kubeConfig(), await readCrds(crdDirectory));
      return plane;
    } catch (error) {
      await controllerManager?.process.stop();
      await apiServer?.process.stop();
      await etcd?.process.stop();
      rmSync(workDir, { recursive: true, force: true });
      workDirs.delete(workDir);
      throw error;
    }
  }

  /** Stops kube-controller-manager, kube-apiserver, then etcd, and removes the work folder. Safe to call twice. */
  async stop(): Promise<void> {
    await this.controllerManager?.process.stop();
    await this.apiServer.process.stop();
    await this.etcd.process.stop();
    rmSync(this.workDir, { recursive: true, force: true });
    workDirs.delete(this.workDir);
  }
}
