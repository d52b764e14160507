import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";

export type CaInspection =
  | { ok: true; notAfter: Date; fingerprintSHA256: string; subject: string }
  | { ok: false; reason: CaProblem; message: string };

/** Why a CA Secret cannot be used; these become CertificateAuthorityReady=False reasons. */
export type CaProblem =
  | "CertificateMissing"
  | "KeyMissing"
  | "InvalidCertificate"
  | "InvalidKey"
  | "NotACertificateAuthority"
  | "KeyMismatch"
  | "NotYetValid"
  | "Expired";

/**
 * Checks CA material read from a Secret (tls.crt and tls.key, the layout
 * cert-manager writes too), without changing anything. A CA that
 * fails is reported, never replaced: replacing it would silently break every
 * workload certificate issued under it.
 *
 * Pure: the clock is an argument.
 */
export function inspectCa(certPem: string | undefined, keyPem: string | undefined, now: Date): CaInspection {
  if (!certPem?.trim())
    return { ok: false, reason: "CertificateMissing", message: "the Secret has no tls.crt" };
  if (!keyPem?.trim()) return { ok: false, reason: "KeyMissing", message: "the Secret has no tls.key" };
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (error) {
    return {
      ok: false,
      reason: "InvalidCertificate",
      message: `tls.crt is not a PEM certificate: ${(error as Error).message}`,
    };
  }
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (error) {
    return {
      ok: false,
      reason: "InvalidKey",
      message: `tls.key is not a PEM private key: ${(error as Error).message}`,
    };
  }
  if (!cert.ca) {
    return {
      ok: false,
      reason: "NotACertificateAuthority",
      message: "tls.crt lacks the basic constraint CA:TRUE",
    };
  }
  const certKey = cert.publicKey.export({ type: "spki", format: "der" });
  const derivedKey = createPublicKey(key).export({ type: "spki", format: "der" });
  if (!certKey.equals(derivedKey)) {
    return { ok: false, reason: "KeyMismatch", message: "tls.key does not belong to tls.crt" };
  }
  const notBefore = new Date(cert.validFrom);
  const notAfter = new Date(cert.validTo);
  if (now < notBefore) {
    return {
      ok: false,
      reason: "NotYetValid",
      message: `tls.crt is valid only from ${notBefore.toISOString()}`,
    };
  }
  if (now > notAfter) {
    return { ok: false, reason: "Expired", message: `tls.crt expired at ${notAfter.toISOString()}` };
  }
  return { ok: true, notAfter, fingerprintSHA256: cert.fingerprint256, subject: cert.subject };
}
