import { createServer } from "node:net";
import { networkInterfaces } from "node:os";
import type { KubeConfig } from "@kubernetes/client-node";
import { RestClient } from "../../src/k8s/rest.js";
import { createRootCa, type CertificateAuthorityMaterial } from "../../src/pki/root.js";
import { kubectlOk } from "../integration/kubectl.js";

/**
 * What the xDS integration tests share: where servers can listen so that
 * EndpointSlices may point at them, real ServiceAccount tokens, and the
 * mesh CA Secret.
 */

/**
 * An address of this machine that an EndpointSlice may hold: the API server
 * rejects loopback addresses, so backends listen on a real interface.
 */
export function hostAddress(): string {
  const address = Object.values(networkInterfaces())
    .flat()
    .find((i) => i && i.family === "IPv4" && !i.internal)?.address;
  if (!address) throw new Error("no non-loopback IPv4 interface: EndpointSlices cannot point at loopback");
  return address;
}

/** A port free on `host` now: xDS-enabled gRPC servers must bind a port they know in advance. */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * A ServiceAccount token from the real API server (TokenRequest), audience
 * `skiff` by default. With `pod`, bound to that Pod as a kubelet's projected
 * token is (the Pod object is created, running as the ServiceAccount, if it
 * does not exist): only such a token may back a node id that names the Pod.
 */
export async function serviceAccountToken(
  kubeConfig: KubeConfig,
  namespace: string,
  serviceAccount: string,
  audience = "skiff",
  pod?: string,
): Promise<string> {
  const rest = new RestClient(kubeConfig);
  const boundObjectRef = pod
    ? { apiVersion: "v1", kind: "Pod", name: pod, uid: await podUid(rest, namespace, pod, serviceAccount) }
    : undefined;
  const { status } = await rest.request<{ status: { token: string } }>(
    "POST",
    `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`,
    {
      body: {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenRequest",
        spec: {
          audiences: [audience],
          expirationSeconds: 3600,
          ...(boundObjectRef ? { boundObjectRef } : {}),
        },
      },
    },
  );
  return status.token;
}

/** The uid of the Pod, created first (running as the ServiceAccount, on no node) if it does not exist. */
async function podUid(rest: RestClient, namespace: string, name: string, serviceAccount: string) {
  const path = `/api/v1/namespaces/${namespace}/pods`;
  const existing = await rest.getIfExists<{ metadata: { uid: string } }>(`${path}/${name}`);
  if (existing) return existing.metadata.uid;
  const created = await rest.request<{ metadata: { uid: string } }>("POST", path, {
    body: {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace },
      spec: { serviceAccountName: serviceAccount, containers: [{ name: "app", image: "app" }] },
    },
  });
  return created.metadata.uid;
}

/** A new builtin root in the namespace's skiff-ca Secret, as the Mesh reconciler creates it; returns it. */
export async function createMeshCa(namespace: string): Promise<CertificateAuthorityMaterial> {
  const root = await createRootCa({ trustDomain: "cluster.local", validityMs: 3600_000, now: new Date() });
  await kubectlOk([
    "create",
    "secret",
    "generic",
    "skiff-ca",
    "-n",
    namespace,
    `--from-literal=tls.crt=${root.certPem}`,
    `--from-literal=tls.key=${root.keyPem}`,
  ]);
  return root;
}

/** Changes keys of the namespace's skiff-ca Secret, as an operator rotating the mesh's roots does. */
export function patchMeshCa(namespace: string, data: Record<string, string>): Promise<string> {
  return kubectlOk([
    "patch",
    "secret",
    "skiff-ca",
    "-n",
    namespace,
    "--type=merge",
    "-p",
    JSON.stringify({ stringData: data }),
  ]);
}

/** Gives a Pod object the status a kubelet would: Running, at `ip` (no kubelet runs here). */
export function markPodRunning(namespace: string, pod: string, ip: string): Promise<string> {
  return kubectlOk([
    "patch",
    "pod",
    pod,
    "-n",
    namespace,
    "--subresource=status",
    "--type=merge",
    "-p",
    JSON.stringify({ status: { phase: "Running", podIP: ip, podIPs: [{ ip }] } }),
  ]);
}
