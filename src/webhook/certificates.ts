import { x509 } from "../pki/crypto.js";
import { createSelfSignedCa, issueLeaf, signingCaFromPem } from "../pki/issue.js";
import { certificatePems } from "../pki/pem.js";

/**
 * The webhook's own PKI: a CA that only the API server trusts (through the
 * webhook configurations' caBundle) and a serving certificate it signs. It
 * has nothing to do with the mesh CA. Kept in one Secret: ca.crt (the CA
 * bundle, newest first), ca.key, tls.crt and tls.key.
 */
export interface WebhookTls {
  caBundlePem: string;
  caKeyPem: string;
  certPem: string;
  keyPem: string;
}

const DAY = 24 * 3600_000;
export const CA_VALIDITY_MS = 5 * 365 * DAY;
export const SERVING_VALIDITY_MS = 90 * DAY;
/** Re-issue the serving certificate with a third of its life left; replace the CA with 60 days left. */
const SERVING_RENEW_BEFORE_MS = 30 * DAY;
const CA_RENEW_BEFORE_MS = 60 * DAY;

export type TlsVerdict = "ok" | "reissue-serving" | "new-ca";

/** What the Secret needs, from what it holds: nothing, a new serving certificate, or a new CA. Pure. */
export function tlsVerdict(tls: WebhookTls | undefined, hosts: readonly string[], now: Date): TlsVerdict {
  if (!tls) return "new-ca";
  let ca: x509.X509Certificate;
  let serving: x509.X509Certificate;
  try {
    ca = new x509.X509Certificate(firstPem(tls.caBundlePem));
    serving = new x509.X509Certificate(tls.certPem);
  } catch {
    return "new-ca";
  }
  if (ca.notAfter.getTime() - now.getTime() < CA_RENEW_BEFORE_MS) return "new-ca";
  const names = new Set(
    (serving.getExtension(x509.SubjectAlternativeNameExtension)?.names.toJSON() ?? []).map((n) => n.value),
  );
  const coversHosts = hosts.every((h) => names.has(h));
  const issuedByCa = serving.issuer === ca.subject;
  if (!coversHosts || !issuedByCa || serving.notAfter.getTime() - now.getTime() < SERVING_RENEW_BEFORE_MS)
    return "reissue-serving";
  return "ok";
}

/**
 * New material for a verdict. A new CA keeps the old one in the bundle while
 * it is still valid, so certificates it signed stay trusted during the
 * switch; expired CAs are dropped from the bundle.
 */
export async function renewTls(
  tls: WebhookTls | undefined,
  verdict: Exclude<TlsVerdict, "ok">,
  hosts: readonly string[],
  now: Date,
): Promise<WebhookTls> {
  const notBefore = new Date(now.getTime() - 60_000);
  let caPair = tls && { certPem: firstPem(tls.caBundlePem), keyPem: tls.caKeyPem };
  let bundle = tls?.caBundlePem ?? "";
  if (verdict === "new-ca" || !caPair) {
    const ca = await createSelfSignedCa(
      "CN=skiff-webhook-ca,O=skiff",
      notBefore,
      new Date(now.getTime() + CA_VALIDITY_MS),
    );
    caPair = ca.pair;
    bundle = [ca.pair.certPem, ...stillValid(bundle, now)].join("");
  }
  const serving = await issueLeaf(await signingCaFromPem(caPair), {
    subject: `CN=${hosts[0] ?? "skiff-webhook"}`,
    usage: x509.ExtendedKeyUsage.serverAuth,
    sans: hosts.map((h) =>
      /^[0-9.]+$|:/.test(h) ? { type: "ip" as const, value: h } : { type: "dns" as const, value: h },
    ),
    notBefore,
    notAfter: new Date(now.getTime() + SERVING_VALIDITY_MS),
  });
  return { caBundlePem: bundle, caKeyPem: caPair.keyPem, certPem: serving.certPem, keyPem: serving.keyPem };
}

function firstPem(bundle: string): string {
  const first = certificatePems(bundle)[0];
  if (!first) throw new Error("the CA bundle holds no certificate");
  return first;
}

function stillValid(bundle: string, now: Date): string[] {
  return certificatePems(bundle).filter((pem) => new x509.X509Certificate(pem).notAfter > now);
}
