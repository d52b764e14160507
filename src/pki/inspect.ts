import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { certificatePems } from "./pem.js";

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
  | "Expired"
  | "InvalidTrustBundle"
  | "SignerNotTrusted";

/**
 * Checks CA material read from a Secret (tls.crt and tls.key, the layout
 * cert-manager writes too), without changing anything. A CA that
 * fails is reported, never replaced: replacing it would silently break every
 * workload certificate issued under it.
 *
 * Pure: the clock is an argument.
 */
export function inspectCa(
  certPem: string | undefined,
  keyPem: string | undefined,
  now: Date,
  /** ca.crt, when the Secret has one: every root the mesh trusts. */
  trustBundlePem?: string,
): CaInspection {
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
  if (trustBundlePem !== undefined) {
    const problem = trustProblem(cert, trustBundlePem);
    if (problem) return problem;
  }
  return { ok: true, notAfter, fingerprintSHA256: cert.fingerprint256, subject: cert.subject };
}

/**
 * Whether workloads that trust the bundle would accept what the signer
 * signs: the signer must be in the bundle, or be issued by a certificate in
 * it (cert-manager's intermediate under its root). Root rotation relies on
 * this order: the new root enters ca.crt before it signs anything.
 */
function trustProblem(signer: X509Certificate, bundlePem: string): CaInspection | undefined {
  const pems = certificatePems(bundlePem);
  if (pems.length === 0)
    return { ok: false, reason: "InvalidTrustBundle", message: "ca.crt holds no PEM certificate" };
  let roots: X509Certificate[];
  try {
    roots = pems.map((pem) => new X509Certificate(pem));
  } catch (error) {
    return {
      ok: false,
      reason: "InvalidTrustBundle",
      message: `ca.crt holds a certificate that does not parse: ${(error as Error).message}`,
    };
  }
  return vouches(roots, signer)
    ? undefined
    : {
        ok: false,
        reason: "SignerNotTrusted",
        message:
          "tls.crt is neither in the trust bundle ca.crt nor issued by a certificate in it, so workloads would refuse the certificates it signs; add its root to ca.crt first",
      };
}

function vouches(roots: X509Certificate[], signer: X509Certificate): boolean {
  return roots.some(
    (root) =>
      root.fingerprint256 === signer.fingerprint256 ||
      (signer.checkIssued(root) && signer.verify(root.publicKey)),
  );
}

/**
 * Whether workloads that trust `bundlePem` accept certificates that
 * `signerPem` (its first certificate) signs, by the rule trustProblem
 * applies; false for anything that does not parse.
 */
export function vouchesFor(bundlePem: string, signerPem: string): boolean {
  try {
    const [signer] = certificatePems(signerPem);
    if (!signer) return false;
    return vouches(
      certificatePems(bundlePem).map((pem) => new X509Certificate(pem)),
      new X509Certificate(signer),
    );
  } catch {
    return false; // a bundle or signer that does not parse vouches for nothing
  }
}
