import { ECDSA_P256, privateKeyPem, webcrypto, x509 } from "../pki/crypto.js";
import { createSelfSignedCa, issueLeaf, type KeyPair } from "../pki/issue.js";

export type { KeyPair };

export interface LocalPki {
  ca: KeyPair;
  /** kube-apiserver's serving certificate, for localhost and 127.0.0.1. */
  serving: KeyPair;
  /** A client certificate for an admin user in system:masters. */
  admin: KeyPair;
  /** The key pair that signs ServiceAccount tokens. */
  serviceAccount: { publicPem: string; privatePem: string };
}

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
      { type: "ip", value: "127.0.0.1" },
    ]),
    admin: await leaf(`CN=${adminUser},O=system:masters`, x509.ExtendedKeyUsage.clientAuth),
    serviceAccount: {
      publicPem: x509.PemConverter.encode(
        await webcrypto.subtle.exportKey("spki", saKeys.publicKey),
        "PUBLIC KEY",
      ),
      privatePem: await privateKeyPem(saKeys.privateKey),
    },
  };
}
