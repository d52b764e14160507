import { Agent, request } from "node:https";
import { join } from "node:path";
import { writeFile } from "node:fs/promises";
import { ManagedProcess, waitUntil } from "./process.js";
import { freePort } from "./ports.js";
import type { LocalPki } from "./pki.js";
import { SERVICE_CLUSTER_IP_RANGE } from "./service-network.js";

export interface ApiServerOptions {
  /**
   * Enable the ServiceAccount admission plugin, as a real cluster does. Only
   * when kube-controller-manager runs: the plugin rejects Pods whose
   * ServiceAccount does not exist, and only its ServiceAccount controller
   * creates each namespace's `default`.
   */
  serviceAccountAdmission?: boolean;
  /**
   * On SIGTERM, answer new requests with 429 and Retry-After until the
   * requests in flight are done, then close every connection within 2 s
   * (--shutdown-send-retry-after). Without it, open watches hold the HTTP
   * server's shutdown for up to --request-timeout (60 s), which
   * kube-controller-manager's many watches always do.
   */
  quickShutdown?: boolean;
  /**
   * Write an audit log here: one JSON line per request and stage, at level
   * Metadata (who, verb, resource, response code; no bodies). Tests use it
   * to act on what a client has done rather than on how long it has run.
   */
  auditLogPath?: string;
}

/** Every request at level Metadata, without the RequestReceived stage (a request's outcome is what matters). */
const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
`;

export interface RunningApiServer {
  url: string;
  process: ManagedProcess;
}

/** GET over mutual TLS; resolves to the status code. */
function getStatus(url: string, pki: LocalPki): Promise<number> {
  return new Promise((resolve, reject) => {
    const agent = new Agent({ ca: pki.ca.certPem, cert: pki.admin.certPem, key: pki.admin.keyPem });
    const req = request(url, { agent, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

/**
 * Starts kube-apiserver on 127.0.0.1 with the flags envtest uses: RBAC
 * authorization, client-certificate authentication, a ServiceAccount signing
 * key, and no ServiceAccount admission plugin unless asked for (without a
 * controller-manager nothing creates the `default` ServiceAccounts it
 * requires). Waits until /readyz answers 200, which includes the RBAC
 * bootstrap policy being in place.
 */
export async function startApiServer(
  binary: string,
  dir: string,
  etcdUrl: string,
  pki: LocalPki,
  timeoutMs: number,
  /** Reuse a port (a restart keeps clients' kubeconfigs valid); default: a free one. */
  fixedPort?: number,
  options: ApiServerOptions = {},
): Promise<RunningApiServer> {
  const port = fixedPort ?? (await freePort());
  const url = `https://127.0.0.1:${port}`;
  const file = (name: string) => join(dir, name);
  await Promise.all([
    writeFile(file("ca.crt"), pki.ca.certPem),
    writeFile(file("apiserver.crt"), pki.serving.certPem),
    writeFile(file("apiserver.key"), pki.serving.keyPem, { mode: 0o600 }),
    writeFile(file("kubelet-client.crt"), pki.kubeletClient.certPem),
    writeFile(file("kubelet-client.key"), pki.kubeletClient.keyPem, { mode: 0o600 }),
    writeFile(file("sa.pub"), pki.serviceAccount.publicPem),
    writeFile(file("sa.key"), pki.serviceAccount.privatePem, { mode: 0o600 }),
    ...(options.auditLogPath ? [writeFile(file("audit-policy.yaml"), AUDIT_POLICY)] : []),
  ]);
  const process = new ManagedProcess(
    "kube-apiserver",
    binary,
    [
      `--etcd-servers=${etcdUrl}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      // The endpoint reconciler refuses a loopback advertise address, and there
      // is no in-cluster client that needs the kubernetes Service endpoints.
      "--endpoint-reconciler-type=none",
      `--secure-port=${port}`,
      `--cert-dir=${dir}`,
      `--tls-cert-file=${file("apiserver.crt")}`,
      `--tls-private-key-file=${file("apiserver.key")}`,
      `--client-ca-file=${file("ca.crt")}`,
      "--authorization-mode=RBAC",
      `--service-account-issuer=${url}`,
      `--service-account-key-file=${file("sa.pub")}`,
      `--service-account-signing-key-file=${file("sa.key")}`,
      `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
      "--allow-privileged=true",
      // Kubelets (a local node's) are dialled by the name they publish as
      // InternalDNS (localhost: loopback, never through an egress proxy), must
      // prove it with a certificate from the local CA, and serve only the
      // API server's own client certificate.
      "--kubelet-preferred-address-types=InternalDNS,Hostname,InternalIP,ExternalDNS,ExternalIP",
      `--kubelet-certificate-authority=${file("ca.crt")}`,
      `--kubelet-client-certificate=${file("kubelet-client.crt")}`,
      `--kubelet-client-key=${file("kubelet-client.key")}`,
      ...(options.serviceAccountAdmission ? [] : ["--disable-admission-plugins=ServiceAccount"]),
      ...(options.quickShutdown ? ["--shutdown-send-retry-after=true"] : []),
      "--profiling=false",
      // The log backend's default mode, blocking, writes each event before the response goes out.
      ...(options.auditLogPath
        ? [`--audit-policy-file=${file("audit-policy.yaml")}`, `--audit-log-path=${options.auditLogPath}`]
        : []),
    ],
    file("kube-apiserver.log"),
  );
  await waitUntil(process, "ready", async () => (await getStatus(`${url}/readyz`, pki)) === 200, timeoutMs);
  return { url, process };
}
