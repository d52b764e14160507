import { ECDSA_P256, privateKeyPem, webcrypto, x509 } from "../../src/pki/crypto.js";
import type { KeyPair, SigningCa } from "../../src/pki/issue.js";
import { signWorkloadCertificate } from "../../src/pki/workload.js";
import { WORKLOAD_SECRET } from "../../src/mesh/proxy.js";
import { SECRET_TYPE, type EnvoyResource } from "../../src/xds/translate/resource.js";
import { trustBundleSecret } from "../../src/xds/translate/identity-secrets.js";

/**
 * A workload certificate with a P-256 key made here, in the test. Test
 * material only: in the mesh the key is made in the Pod, and the xDS server
 * only signs CSRs.
 */
export async function issueWorkloadCertificate(
  ca: SigningCa,
  options: Parameters<typeof signWorkloadCertificate>[2],
): Promise<KeyPair> {
  const keys = await webcrypto.subtle.generateKey(ECDSA_P256, true, ["sign", "verify"]);
  const certPem = await signWorkloadCertificate(ca, await x509.PublicKey.create(keys.publicKey), options);
  return { certPem, keyPem: await privateKeyPem(keys.privateKey) };
}

/**
 * A certificate, its key and the trust bundle as the SDS Secrets an Envoy
 * sidecar reads (`default`, `ROOTCA`), for static bootstraps: in the mesh
 * its skiff agent serves these.
 */
export function workloadSecrets(certificate: KeyPair, trustBundlePem: string): EnvoyResource[] {
  return [
    {
      typeUrl: SECRET_TYPE,
      name: WORKLOAD_SECRET,
      json: {
        name: WORKLOAD_SECRET,
        tls_certificate: {
          certificate_chain: { inline_string: certificate.certPem },
          private_key: { inline_string: certificate.keyPem },
        },
      },
    },
    trustBundleSecret(trustBundlePem),
  ];
}
