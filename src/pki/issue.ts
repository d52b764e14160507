import { ECDSA_P256, privateKeyPem, randomSerialNumber, webcrypto, x509 } from "./crypto.js";
import { certificatePem } from "./pem.js";

/** A certificate and its private key, both PEM. */
export interface KeyPair {
  certPem: string;
  keyPem: string;
}

/** A CA that can sign: its certificate and private key as objects. */
export interface SigningCa {
  cert: x509.X509Certificate;
  privateKey: CryptoKey;
}

/** A self-signed ECDSA P-256 CA for certificates that never leave Skiff's own machinery (webhooks, local control planes). */
export async function createSelfSignedCa(
  subject: string,
  notBefore: Date,
  notAfter: Date,
): Promise<SigningCa & { pair: KeyPair }> {
  const keys = await webcrypto.subtle.generateKey(ECDSA_P256, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialNumber(),
    name: subject,
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: ECDSA_P256,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    cert,
    privateKey: keys.privateKey,
    pair: { certPem: certificatePem(cert), keyPem: await privateKeyPem(keys.privateKey) },
  };
}

/** Reads a CA back from PEM, to sign with it. */
export async function signingCaFromPem(pair: KeyPair): Promise<SigningCa> {
  const cert = new x509.X509Certificate(pair.certPem);
  const der = x509.PemConverter.decodeFirst(pair.keyPem);
  const privateKey = await webcrypto.subtle.importKey("pkcs8", der, ECDSA_P256, true, ["sign"]);
  return { cert, privateKey };
}

/** What a leaf certificate says, apart from its key. */
export interface LeafProfile {
  subject: string;
  usage: string | string[];
  sans?: x509.JsonGeneralName[];
  /** Mark the SAN extension critical, as SPIFFE requires when the subject is empty. */
  criticalSans?: boolean;
  notBefore: Date;
  notAfter: Date;
}

/** Issues an ECDSA P-256 leaf certificate for the given extended key usages, with optional SANs. */
export async function issueLeaf(ca: SigningCa, options: LeafProfile): Promise<KeyPair> {
  const keys = await webcrypto.subtle.generateKey(ECDSA_P256, true, ["sign", "verify"]);
  const certPem = await signLeaf(ca, keys.publicKey, options);
  return { certPem, keyPem: await privateKeyPem(keys.privateKey) };
}

/**
 * Signs a leaf certificate for a public key held elsewhere (a workload's,
 * from its CSR), so the private key never reaches the signer. Returns PEM.
 */
export async function signLeaf(
  ca: SigningCa,
  publicKey: x509.PublicKey | CryptoKey,
  options: LeafProfile,
): Promise<string> {
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
      true,
    ),
    new x509.ExtendedKeyUsageExtension(Array.isArray(options.usage) ? options.usage : [options.usage]),
    await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
  ];
  if (options.sans && options.sans.length > 0)
    extensions.push(new x509.SubjectAlternativeNameExtension(options.sans, options.criticalSans ?? false));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialNumber(),
    subject: options.subject,
    issuer: ca.cert.subject,
    notBefore: options.notBefore,
    notAfter: options.notAfter,
    publicKey,
    signingKey: ca.privateKey,
    signingAlgorithm: ECDSA_P256,
    extensions,
  });
  return certificatePem(cert);
}
