import { X509Certificate } from "node:crypto";
import { certificatePems, withFinalNewline } from "./pem.js";

/**
 * The chain a workload presents: its certificate, then the signer's
 * certificates up to (not including) a root. With the builtin root as the
 * signer that is the leaf alone; with cert-manager's intermediate it is leaf
 * and intermediate, since peers trust only the root (ca.crt) and must be
 * able to build the path.
 */
export function certificateChain(leafPem: string, signerPem: string): string {
  const intermediates = certificatePems(signerPem).filter((pem) => !selfSigned(new X509Certificate(pem)));
  return [withFinalNewline(leafPem), ...intermediates].join("");
}

function selfSigned(cert: X509Certificate): boolean {
  return cert.checkIssued(cert) && cert.verify(cert.publicKey);
}
