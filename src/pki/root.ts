import { ECDSA_P256, privateKeyPem, randomSerialNumber, webcrypto, x509 } from "./crypto.js";
import { certificatePem } from "./pem.js";

export interface CertificateAuthorityMaterial {
  certPem: string;
  keyPem: string;
}

/**
 * Makes the mesh's builtin root CA: a self-signed ECDSA P-256 certificate with
 * the trust domain as its organization. Key material is created here and only
 * here; the Mesh reconciler calls this once, when no CA Secret exists, and
 * never again while one does.
 */
export async function createRootCa(options: {
  trustDomain: string;
  validityMs: number;
  now: Date;
}): Promise<CertificateAuthorityMaterial> {
  const keys = await webcrypto.subtle.generateKey(ECDSA_P256, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialNumber(),
    name: `O=${options.trustDomain},CN=Skiff root CA`,
    // A minute of slack for clocks that lag the operator's.
    notBefore: new Date(options.now.getTime() - 60_000),
    notAfter: new Date(options.now.getTime() + options.validityMs),
    keys,
    signingAlgorithm: ECDSA_P256,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: certificatePem(cert), keyPem: await privateKeyPem(keys.privateKey) };
}
