import type { DesiredCondition } from "../../k8s/conditions.js";

/** How long before the CA's notAfter the Mesh starts warning: time to rotate it (README, "Rotating the mesh root CA"). */
export const CA_EXPIRY_WARNING_MS = 30 * 24 * 3600_000;

/**
 * CertificateAuthorityNotExpiringSoon, from status.certificateAuthority.notAfter
 * and now alone. It is True while the CA has more than 30 days left;
 * False/ExpiringSoon from 30 days before notAfter, False/Expired from
 * notAfter; Unknown while no CA is on record. Its polarity is every other
 * condition's (True is healthy), so kubectl's REASON column shows
 * ExpiringSoon, its transition is a Warning Event, and alerts fire on
 * status False, while Ready stays True: the mesh still works. Pure.
 */
export function caExpiryCondition(notAfter: string | undefined, now: Date): DesiredCondition {
  const type = "CertificateAuthorityNotExpiringSoon";
  const expiresAt = notAfter === undefined ? NaN : Date.parse(notAfter);
  if (Number.isNaN(expiresAt))
    return {
      type,
      status: "Unknown",
      reason: "NoCertificateAuthority",
      message: "no certificate authority is on record yet",
    };
  const left = expiresAt - now.getTime();
  if (left <= 0)
    return {
      type,
      status: "False",
      reason: "Expired",
      message: `the certificate authority expired at ${notAfter}: workload certificates can no longer be issued under it; rotate it`,
    };
  const days = Math.floor(left / (24 * 3600_000));
  if (left <= CA_EXPIRY_WARNING_MS)
    return {
      type,
      status: "False",
      reason: "ExpiringSoon",
      message: `the certificate authority expires at ${notAfter}, in ${days} days: rotate it before then`,
    };
  return {
    type,
    status: "True",
    reason: "NotExpiringSoon",
    message: `the certificate authority expires at ${notAfter}, in ${days} days`,
  };
}

/** Milliseconds until caExpiryCondition next changes status (30 days before notAfter, then notAfter); undefined when it never will. Pure. */
export function caExpiryFlipInMs(notAfter: string | undefined, now: Date): number | undefined {
  const expiresAt = notAfter === undefined ? NaN : Date.parse(notAfter);
  if (Number.isNaN(expiresAt)) return undefined;
  const flip = [expiresAt - CA_EXPIRY_WARNING_MS, expiresAt].find((at) => at > now.getTime());
  return flip === undefined ? undefined : flip - now.getTime();
}
