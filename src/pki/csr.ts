import { createPublicKey, type KeyObject } from "node:crypto";
import { x509 } from "./crypto.js";

/**
 * Why a certificate signing request is refused:
 * - `malformed`: not one PEM CSR, a signature that does not verify, a weak
 *   or unsupported key, or no SAN extension to read an identity from;
 * - `identity`: a well-formed request for names the requester has not
 *   proven (another SPIFFE ID, another trust domain, or any further name).
 */
export type CsrRefusal = { readonly kind: "malformed" | "identity"; readonly message: string };

export type CsrCheck =
  { readonly ok: true; readonly publicKey: x509.PublicKey } | ({ ok: false } & CsrRefusal);

/** RSA keys below this many bits are refused, as Istio's CA refuses them. */
const MIN_RSA_BITS = 2048;
const SUBJECT_ALT_NAME = "2.5.29.17";
const CSR_BLOCK = /-----BEGIN CERTIFICATE REQUEST-----[\s\S]*?-----END CERTIFICATE REQUEST-----/g;

/**
 * Checks a workload's CSR against the one SPIFFE ID its token proved: the
 * request must be a single PEM CSR whose self-signature verifies (so the
 * requester holds the key), with an ECDSA P-256 or RSA >= 2048 key, and a
 * SAN extension naming exactly `spiffeId` as a URI and nothing else.
 *
 * The subject and any other requested extensions are ignored rather than
 * refused: the certificate is issued with a fixed profile (see
 * signWorkloadCertificate) and copies only the public key from the request.
 */
export async function checkWorkloadCsr(csrPem: string, spiffeId: string): Promise<CsrCheck> {
  const blocks = csrPem.match(CSR_BLOCK) ?? [];
  if (blocks.length !== 1)
    return malformed(
      blocks.length === 0
        ? "the csr is not a PEM certificate request (no CERTIFICATE REQUEST block)"
        : `the csr holds ${blocks.length} certificate requests; send one`,
    );
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(blocks[0]!);
  } catch (error) {
    return malformed(`the csr cannot be parsed: ${(error as Error).message}`);
  }
  const key = keyProblem(csr.publicKey);
  if (key) return malformed(key);
  let signed = false;
  try {
    signed = await csr.verify();
  } catch (error) {
    return malformed(`the csr's signature cannot be checked: ${(error as Error).message}`);
  }
  if (!signed) return malformed("the csr's signature does not verify with its own public key");
  let names: readonly x509.GeneralName[];
  try {
    const extensions = csr.getExtensions(SUBJECT_ALT_NAME);
    if (extensions.length !== 1)
      return malformed(`the csr has ${extensions.length} subjectAltName extensions; it needs exactly one`);
    names = new x509.SubjectAlternativeNameExtension(extensions[0]!.rawData).names.items;
  } catch (error) {
    return malformed(`the csr's subjectAltName cannot be parsed: ${(error as Error).message}`);
  }
  const requested = names.map((n) => `${n.type}:${n.value}`).join(", ");
  if (names.length !== 1 || names[0]!.type !== "url" || names[0]!.value !== spiffeId)
    return {
      ok: false,
      kind: "identity",
      message: `the csr asks for [${requested}]; this token proves only url:${spiffeId}`,
    };
  return { ok: true, publicKey: csr.publicKey };
}

function keyProblem(publicKey: x509.PublicKey): string | undefined {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(publicKey.rawData), format: "der", type: "spki" });
  } catch (error) {
    return `the csr's public key cannot be read: ${(error as Error).message}`;
  }
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === "ec") {
    if (details.namedCurve === "prime256v1") return undefined;
    return `the csr's EC key is on ${details.namedCurve ?? "an unknown curve"}; only P-256 is accepted`;
  }
  if (key.asymmetricKeyType === "rsa") {
    if ((details.modulusLength ?? 0) >= MIN_RSA_BITS) return undefined;
    return `the csr's RSA key has ${details.modulusLength} bits; at least ${MIN_RSA_BITS} are required`;
  }
  return `the csr's key is ${key.asymmetricKeyType ?? "of an unknown type"}; use ECDSA P-256 or RSA >= ${MIN_RSA_BITS}`;
}

const malformed = (message: string): CsrCheck => ({ ok: false, kind: "malformed", message });
