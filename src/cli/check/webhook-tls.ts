import { X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { certificatePems } from "../../pki/pem.js";

/**
 * Why a webhook's caBundle would not let the API server trust the webhook's
 * serving certificate, or undefined when it would: the bundle must be PEM
 * certificates, one of which signed the serving certificate, which must be
 * valid now and name the host the API server dials. Pure.
 */
export function caBundleProblem(
  caBundleBase64: string | undefined,
  servingCertPem: string,
  host: string,
  now: Date,
): string | undefined {
  if (!caBundleBase64) return "it has no caBundle";
  const bundle = Buffer.from(caBundleBase64, "base64").toString("utf8");
  const pems = certificatePems(bundle);
  if (pems.length === 0) return "its caBundle holds no PEM certificate";
  let authorities: X509Certificate[];
  let serving: X509Certificate;
  try {
    authorities = pems.map((pem) => new X509Certificate(pem));
  } catch (error) {
    return `its caBundle holds a certificate that cannot be read: ${(error as Error).message}`;
  }
  try {
    serving = new X509Certificate(servingCertPem);
  } catch (error) {
    return `the serving certificate cannot be read: ${(error as Error).message}`;
  }
  const signer = authorities.find((ca) => serving.checkIssued(ca) && serving.verify(ca.publicKey));
  if (!signer)
    return `no certificate in its caBundle (${authorities.map((ca) => ca.subject.replace(/\n/g, ",")).join("; ")}) signed the serving certificate (issuer ${serving.issuer.replace(/\n/g, ",")})`;
  if (Date.parse(signer.validTo) <= now.getTime())
    return `the CA in its caBundle expired at ${signer.validTo}`;
  if (Date.parse(serving.validTo) <= now.getTime())
    return `the serving certificate expired at ${serving.validTo}`;
  if (Date.parse(serving.validFrom) > now.getTime())
    return `the serving certificate is not valid before ${serving.validFrom}`;
  const names = isIP(host) ? serving.checkIP(host) : serving.checkHost(host);
  if (!names) return `the serving certificate does not name ${host}, the host the API server calls`;
  return undefined;
}
