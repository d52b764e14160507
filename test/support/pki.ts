import { ECDSA_P256, privateKeyPem, webcrypto, x509 } from "../../src/pki/crypto.js";
import { signingCaFromPem } from "../../src/pki/issue.js";
import { createRootCa } from "../../src/pki/root.js";

const HOUR = 3600_000;

/** A root, and an intermediate under it as cert-manager would write it (tls.crt: intermediate then root). */
export async function rootAndIntermediate(now: Date, intermediateValidityMs = HOUR) {
  const rootPair = await createRootCa({ trustDomain: "cluster.local", validityMs: 24 * HOUR, now });
  const root = await signingCaFromPem(rootPair);
  const keys = await webcrypto.subtle.generateKey(ECDSA_P256, true, ["sign", "verify"]);
  const intermediate = await x509.X509CertificateGenerator.create({
    serialNumber: "02",
    subject: "CN=Skiff intermediate CA",
    issuer: root.cert.subject,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + intermediateValidityMs),
    publicKey: keys.publicKey,
    signingKey: root.privateKey,
    signingAlgorithm: ECDSA_P256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
    ],
  });
  return {
    rootPem: rootPair.certPem,
    signer: {
      certPem: intermediate.toString("pem") + "\n" + rootPair.certPem,
      keyPem: await privateKeyPem(keys.privateKey),
    },
  };
}
