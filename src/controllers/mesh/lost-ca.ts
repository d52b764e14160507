import { X509Certificate } from "node:crypto";
import { certificatePems } from "../../pki/pem.js";
import { REGENERATE_CA_ANNOTATION } from "../../mesh/annotations.js";

/**
 * What the Mesh reconciler does when the builtin CA Secret is missing.
 *
 * A Mesh that never had a CA gets its first root. One whose status records a
 * root (status.certificateAuthority) has lost it: a new root, trusted by no
 * workload, would break every connection between workloads on old and new
 * certificates, so that is an incident to report, not to paper over. The
 * cure is the backup; failing that, the user asks for a new root by naming
 * the lost one in the annotation below, and gets it staged as a rotation is:
 * trusted beside the lost root first, signing only later.
 *
 * Pure: no I/O, no clock.
 */

/**
 * How long a regenerated root is trusted before it signs: the xDS server
 * sends a new trust bundle to connected proxies within seconds, and a minute
 * leaves room for a slow one.
 */
export const DEFAULT_ROOT_TRUST_PERIOD_MS = 60_000;

export type MissingCaSecretAction =
  { action: "CreateFirstRoot" } | { action: "Report" } | { action: "Regenerate" };

const sameFingerprint = (a: string, b: string) => a.trim().toUpperCase() === b.trim().toUpperCase();

/**
 * - `recordedFingerprint`: status.certificateAuthority.fingerprintSHA256, the root the Mesh has or last had;
 * - `request`: the REGENERATE_CA_ANNOTATION value, if any.
 */
export function missingCaSecretAction(
  recordedFingerprint: string | undefined,
  request: string | undefined,
): MissingCaSecretAction {
  if (!recordedFingerprint) return { action: "CreateFirstRoot" };
  return request !== undefined && sameFingerprint(request, recordedFingerprint)
    ? { action: "Regenerate" }
    : { action: "Report" };
}

/** CertificateAuthorityReady=False for a lost CA Secret: what is lost, and the two ways out. */
export function caSecretMissing(
  secret: string,
  lostFingerprint: string,
  request: string | undefined,
): { ok: false; reason: "CASecretMissing"; message: string } {
  const wrongRequest =
    request === undefined
      ? ""
      : `The annotation ${REGENERATE_CA_ANNOTATION} names ${JSON.stringify(request)}, not the lost root. `;
  return {
    ok: false,
    reason: "CASecretMissing",
    message:
      `${wrongRequest}The CA Secret ${secret} is gone, and with it the root the mesh trusts (SHA-256 ${lostFingerprint}): ` +
      `workload certificates can be neither issued nor renewed, and the existing ones expire. ` +
      `Restore the Secret from a backup, or annotate the Mesh with ${REGENERATE_CA_ANNOTATION}=${lostFingerprint} ` +
      `for a new root, which workloads trust beside the lost one before it signs.`,
  };
}

/**
 * The ca.crt of a regenerated root: the lost root, then the new one. The
 * lost root is looked for in the trust bundles the Mesh wrote to meshed
 * namespaces, and taken only by its recorded fingerprint, so that nothing
 * else a bundle holds (a namespace's ConfigMap is editable there) becomes
 * trusted mesh-wide. Without it, the new root stands alone.
 */
export function regeneratedTrustBundle(
  lostFingerprint: string,
  bundles: readonly string[],
  newRootPem: string,
): { pem: string; lostRootFound: boolean } {
  const lostRoot = bundles
    .flatMap((bundle) => certificatePems(bundle))
    .find((pem) => {
      try {
        return sameFingerprint(new X509Certificate(pem).fingerprint256, lostFingerprint);
      } catch {
        return false; // not a certificate: not the lost root
      }
    });
  return lostRoot
    ? { pem: lostRoot + newRootPem, lostRootFound: true } // certificatePems ends each PEM with a newline
    : { pem: newRootPem, lostRootFound: false };
}

/** CertificateAuthorityReady=False while a staged root (skiff.dev/signs-from) is trusted but does not sign yet. */
export function stagedRootProblem(
  signerPem: string,
  trustBundlePem: string,
  signsFrom: Date,
): { ok: false; reason: "NewRootStaged"; message: string } {
  const others = certificatePems(trustBundlePem).length - 1;
  const beside = others > 0 ? `beside ${others} other root${others === 1 ? "" : "s"}` : "alone";
  return {
    ok: false,
    reason: "NewRootStaged",
    message:
      `A new root (SHA-256 ${new X509Certificate(signerPem).fingerprint256}) is trusted ${beside} now, ` +
      `and signs workload certificates from ${signsFrom.toISOString()}.`,
  };
}
