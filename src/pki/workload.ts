import { x509 } from "./crypto.js";
import { signLeaf, type LeafProfile, type SigningCa } from "./issue.js";

/** The SPIFFE ID of a workload: spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccount>. */
export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

interface WorkloadCertificateOptions {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
  validityMs: number;
  now: Date;
}

/**
 * A workload's X.509-SVID, as the SPIFFE spec and Istio shape it: an empty
 * subject with the SPIFFE ID as the only (critical) URI SAN, usable for both
 * ends of mTLS, and valid from a minute ago (clock skew) for the Mesh's
 * workloadValidity, or until the signer expires if that is sooner.
 */
function workloadProfile(ca: SigningCa, options: WorkloadCertificateOptions): LeafProfile {
  return {
    subject: "",
    usage: [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
    sans: [{ type: "url", value: spiffeId(options.trustDomain, options.namespace, options.serviceAccount) }],
    criticalSans: true,
    notBefore: new Date(options.now.getTime() - 60_000),
    // Never beyond the signer: an intermediate may expire before the workload validity runs out.
    notAfter: new Date(Math.min(options.now.getTime() + options.validityMs, ca.cert.notAfter.getTime())),
  };
}

/**
 * A workload certificate for the public key of a CSR the workload made (see
 * checkWorkloadCsr). Nothing here makes a workload's key: it stays in the Pod.
 */
export function signWorkloadCertificate(
  ca: SigningCa,
  publicKey: x509.PublicKey,
  options: WorkloadCertificateOptions,
): Promise<string> {
  return signLeaf(ca, publicKey, workloadProfile(ca, options));
}
