import { x509 } from "./crypto.js";
import { issueLeaf, type KeyPair, type SigningCa } from "./issue.js";

interface ServingCertificateOptions {
  /** The names clients dial, such as skiff-xds.skiff-system.svc. */
  dnsNames: readonly string[];
  validityMs: number;
  now: Date;
}

/**
 * A TLS server certificate from the mesh CA for one of Skiff's own servers
 * (the xDS server): its DNS names as SANs, serverAuth only, a new ECDSA
 * P-256 key made here and never sent anywhere, valid from a minute ago
 * (clock skew) and never beyond its signer.
 */
export function issueServingCertificate(ca: SigningCa, options: ServingCertificateOptions): Promise<KeyPair> {
  if (options.dnsNames.length === 0) throw new Error("a serving certificate needs at least one DNS name");
  return issueLeaf(ca, {
    subject: `CN=${options.dnsNames[0]}`,
    usage: x509.ExtendedKeyUsage.serverAuth,
    sans: options.dnsNames.map((value) => ({ type: "dns" as const, value })),
    notBefore: new Date(options.now.getTime() - 60_000),
    notAfter: new Date(Math.min(options.now.getTime() + options.validityMs, ca.cert.notAfter.getTime())),
  });
}
