import { Agent, request } from "node:https";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { kubeConfigFromYaml, kubeconfigYaml } from "../k8s/kubeconfig.js";
import { RestClient } from "../k8s/rest.js";
import { freePort } from "./ports.js";
import { issueFromLocalCa, type LocalPki } from "./pki.js";
import { ManagedProcess, waitUntil } from "./process.js";

export interface RunningControllerManager {
  /** Where /healthz is served (HTTPS, certificate from the local CA). */
  url: string;
  process: ManagedProcess;
}

/** The user the default RBAC policy gives kube-controller-manager's own permissions to. */
export const CONTROLLER_MANAGER_USER = "system:kube-controller-manager";

/**
 * Controllers turned off on top of the defaults (`*` already leaves out
 * bootstrap-signer, token-cleaner and selinux-warning; the cloud controllers
 * are no longer part of kube-controller-manager at all):
 * - node-ipam: it assigns Pod ranges to Nodes only with --allocate-node-cidrs
 *   and a --cluster-cidr, and a local node picks its own range. It would idle
 *   anyway; naming it here makes the choice visible.
 */
export const DISABLED_CONTROLLERS = ["node-ipam-controller"];

/** GET over TLS, verified against the local CA; resolves to the status code and body. */
function get(url: string, caPem: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: new Agent({ ca: caPem }), timeout: 2000 }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

/**
 * Starts kube-controller-manager against the local API server, configured as
 * kubeadm does for a real cluster, and waits until its /healthz answers ok
 * and its controllers have started (the `default` ServiceAccount of the
 * `default` namespace exists):
 * - it authenticates as system:kube-controller-manager with a client
 *   certificate from the local CA, and each controller then acts as its own
 *   ServiceAccount in kube-system (--use-service-account-credentials), so the
 *   default RBAC policy applies per controller;
 * - the ServiceAccount key is the one the API server signs tokens with, and
 *   the local CA is the root CA it publishes as `kube-root-ca.crt` in every
 *   namespace and the signer of approved CertificateSigningRequests;
 * - no leader election (one instance), serving only on 127.0.0.1.
 * On failure the process is stopped before the error is thrown.
 */
export async function startControllerManager(
  binary: string,
  dir: string,
  apiServerUrl: string,
  pki: LocalPki,
  timeoutMs: number,
): Promise<RunningControllerManager> {
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const url = `https://127.0.0.1:${port}`;
  const file = (name: string) => join(dir, name);
  const [client, serving] = await Promise.all([
    issueFromLocalCa(pki, { kind: "client", user: CONTROLLER_MANAGER_USER }),
    issueFromLocalCa(pki, {
      kind: "server",
      commonName: "kube-controller-manager",
      dnsNames: ["localhost"],
      ipAddresses: ["127.0.0.1"],
    }),
  ]);
  const kubeconfig = kubeconfigYaml({
    name: "kube-controller-manager",
    server: apiServerUrl,
    caPem: pki.ca.certPem,
    certPem: client.certPem,
    keyPem: client.keyPem,
  });
  await Promise.all([
    writeFile(file("kubeconfig"), kubeconfig, { mode: 0o600 }),
    writeFile(file("ca.crt"), pki.ca.certPem),
    writeFile(file("ca.key"), pki.ca.keyPem, { mode: 0o600 }),
    writeFile(file("sa.key"), pki.serviceAccount.privatePem, { mode: 0o600 }),
    writeFile(file("serving.crt"), serving.certPem),
    writeFile(file("serving.key"), serving.keyPem, { mode: 0o600 }),
  ]);
  const process = new ManagedProcess(
    "kube-controller-manager",
    binary,
    [
      `--kubeconfig=${file("kubeconfig")}`,
      // Delegated authentication and authorization of callers of its own
      // endpoints (/metrics; /healthz is always allowed): without them it warns
      // and refuses every token. The client CA comes from this flag rather
      // than from kube-system/extension-apiserver-authentication, which has no
      // request-header CA here (the API server has no front proxy) and would
      // make it log an error every few seconds.
      `--authentication-kubeconfig=${file("kubeconfig")}`,
      `--authorization-kubeconfig=${file("kubeconfig")}`,
      "--authentication-skip-lookup=true",
      `--client-ca-file=${file("ca.crt")}`,
      "--use-service-account-credentials=true",
      `--service-account-private-key-file=${file("sa.key")}`,
      `--root-ca-file=${file("ca.crt")}`,
      // Lets the CSR signing controller sign approved client and kubelet
      // certificates with the local CA: a local node can obtain credentials the
      // way a kubelet does.
      `--cluster-signing-cert-file=${file("ca.crt")}`,
      `--cluster-signing-key-file=${file("ca.key")}`,
      `--controllers=*,${DISABLED_CONTROLLERS.map((c) => `-${c}`).join(",")}`,
      "--leader-elect=false",
      "--bind-address=127.0.0.1",
      `--secure-port=${port}`,
      `--tls-cert-file=${file("serving.crt")}`,
      `--tls-private-key-file=${file("serving.key")}`,
      "--profiling=false",
    ],
    file("kube-controller-manager.log"),
  );
  try {
    await waitUntil(
      process,
      "healthy",
      async () => {
        const { status, body } = await get(`${url}/healthz`, pki.ca.certPem);
        return status === 200 && body === "ok";
      },
      timeoutMs,
    );
    // /healthz is ok within a second, but the controllers start only after
    // all of them are set up (each gets its ServiceAccount and a token first),
    // some seconds later. Until then the ServiceAccount admission plugin
    // rejects every Pod, so wait for the first thing they do.
    const admin = new RestClient(
      kubeConfigFromYaml(
        kubeconfigYaml({
          name: "admin",
          server: apiServerUrl,
          caPem: pki.ca.certPem,
          certPem: pki.admin.certPem,
          keyPem: pki.admin.keyPem,
        }),
      ),
      5000,
    );
    await waitUntil(
      process,
      "running its controllers (no default ServiceAccount in the default namespace)",
      async () =>
        (await admin.getIfExists("/api/v1/namespaces/default/serviceaccounts/default")) !== undefined,
      timeoutMs,
    );
  } catch (error) {
    await process.stop();
    throw error;
  }
  return { url, process };
}
