import type { EnvoyResource } from "./resource.js";
import { SECRET_TYPE } from "./resource.js";

/** The SDS names Istio uses, so Envoy configs and tools read the same. */
export const WORKLOAD_SECRET = "default";
export const ROOT_CA_SECRET = "ROOTCA";

/** A workload's certificate and key, and the mesh's trust bundle, as SDS Secrets. */
export function workloadSecrets(
  certificate: { certPem: string; keyPem: string },
  trustBundlePem: string,
): EnvoyResource[] {
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
    {
      typeUrl: SECRET_TYPE,
      name: ROOT_CA_SECRET,
      json: { name: ROOT_CA_SECRET, validation_context: { trusted_ca: { inline_string: trustBundlePem } } },
    },
  ];
}
