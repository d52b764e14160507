import { ECDSA_P256, privateKeyPem, randomSerialNumber, webcrypto, x509 } from "../pki/crypto.js";

/** A certificate and its private key, both PEM. */
export interface KeyPair {
  certPem: string;
  keyPem: string;
}

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
  const caKeys = await webcrypto.subtle.generateKey(ECDSA_P256, true, ["sign", "verify"]);
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialNumber(),
    name: "CN=skiff-local-control-plane,O=skiff",
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: ECDSA_P256,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });

  async function leaf(subject: string, usage: string, sans: x509.JsonGeneralName[] = []): Promise<KeyPair> {
    const keys = await webcrypto.subtle.generateKey(ECDSA_P256, true, ["sign", "verify"]);
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([usage]),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ];
    if (sans.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(sans));
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerialNumber(),
      subject,
      issuer: caCert.subject,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: ECDSA_P256,
      extensions,
    });
    return { certPem: cert.toString("pem"), keyPem: await privateKeyPem(keys.privateKey) };
  }

  const saKeys = await webcrypto.subtle.generateKey(ECDSA_P256, true, ["sign", "verify"]);
  return {
    ca: { certPem: caCert.toString("pem"), keyPem: await privateKeyPem(caKeys.privateKey) },
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
