import { ECDSA_P256, privateKeyPem, webcrypto, x509 } from "../pki/crypto.js";
import { createSelfSignedCa, issueLeaf, signingCaFromPem, type KeyPair } from "../pki/issue.js";
import { KUBERNETES_SERVICE_IP } from "./service-network.js";

export type { KeyPair };

export interface LocalPki {
  ca: KeyPair;
  /**
   * kube-apiserver's serving certificate: for localhost and 127.0.0.1, and for
   * the names and address a real cluster's API server answers to in-cluster
   * (`kubernetes.default.svc` and the first Service IP).
   */
  serving: KeyPair;
  /** A client certificate for an admin user in system:masters. */
  admin: KeyPair;
  /**
   * The API server's client certificate toward kubelets (logs, exec,
   * port-forward): a kubelet serves those only to this user.
   */
  kubeletClient: KeyPair;
  /** The key pair that signs ServiceAccount tokens. */
  serviceAccount: { publicPem: string; privatePem: string };
}

/** The names in the API server's serving certificate besides localhost and 127.0.0.1. */
/** The user in the API server's kubelet client certificate, the only client a local node's kubelet server answers. */
export const KUBELET_CLIENT_USER = "kube-apiserver-kubelet-client";

export const IN_CLUSTER_API_SERVER_NAMES = [
  "kubernetes",
  "kubernetes.default",
  "kubernetes.default.svc",
  "kubernetes.default.svc.cluster.local",
];

/**
 * Throwaway certificates for a local control plane, as envtest's tinyca makes
 * them: one ECDSA P-256 CA signs the serving and client certificates. They
 * are valid for a week and live only in the control plane's temporary folder.
 */
export async function createLocalPki(adminUser = "skiff-admin"): Promise<LocalPki> {
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(Date.now() + 7 * 24 * 3600_000);
  const ca = await createSelfSignedCa("CN=skiff-local-control-plane,O=skiff", notBefore, notAfter);
  const leaf = (subject: string, usage: string, sans: x509.JsonGeneralName[] = []) =>
    issueLeaf(ca, { subject, usage, sans, notBefore, notAfter });

  const saKeys = await webcrypto.subtle.generateKey(ECDSA_P256, true, ["sign", "verify"]);
  return {
    ca: ca.pair,
    serving: await leaf("CN=kube-apiserver", x509.ExtendedKeyUsage.serverAuth, [
      { type: "dns", value: "localhost" },
      ...IN_CLUSTER_API_SERVER_NAMES.map((value) => ({ type: "dns" as const, value })),
      { type: "ip", value: "127.0.0.1" },
      { type: "ip", value: KUBERNETES_SERVICE_IP },
    ]),
    admin: await leaf(clientSubject(adminUser, ["system:masters"]), x509.ExtendedKeyUsage.clientAuth),
    kubeletClient: await leaf(clientSubject(KUBELET_CLIENT_USER, []), x509.ExtendedKeyUsage.clientAuth),
    serviceAccount: {
      publicPem: x509.PemConverter.encode(
        await webcrypto.subtle.exportKey("spki", saKeys.publicKey),
        "PUBLIC KEY",
      ),
      privatePem: await privateKeyPem(saKeys.privateKey),
    },
  };
}

/** CN is the user and each O a group, as the API server reads a client certificate; escaped as RFC 4514 requires. */
function clientSubject(user: string, groups: readonly string[]): string {
  return new x509.Name([{ CN: [user] }, ...groups.map((group) => ({ O: [group] }))]).toString();
}

/**
 * Issues another certificate from the local CA, valid until the CA expires:
 * - `client`: a client certificate for `user` in `groups` (the API server
 *   maps CN to the user and O to groups);
 * - `server`: a serving certificate for the given names and addresses.
 */
export async function issueFromLocalCa(
  pki: LocalPki,
  request:
    | { kind: "client"; user: string; groups?: readonly string[] }
    | { kind: "server"; commonName: string; dnsNames?: readonly string[]; ipAddresses?: readonly string[] },
): Promise<KeyPair> {
  const ca = await signingCaFromPem(pki.ca);
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = ca.cert.notAfter;
  if (request.kind === "client") {
    if (!request.user) throw new Error("a client certificate needs a user name");
    return issueLeaf(ca, {
      subject: clientSubject(request.user, request.groups ?? []),
      usage: x509.ExtendedKeyUsage.clientAuth,
      notBefore,
      notAfter,
    });
  }
  return issueLeaf(ca, {
    subject: new x509.Name([{ CN: [request.commonName] }]).toString(),
    usage: x509.ExtendedKeyUsage.serverAuth,
    sans: [
      ...(request.dnsNames ?? []).map((value) => ({ type: "dns" as const, value })),
      ...(request.ipAddresses ?? []).map((value) => ({ type: "ip" as const, value })),
    ],
    notBefore,
    notAfter,
  });
}
