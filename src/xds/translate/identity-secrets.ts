import { ROOT_CA_SECRET } from "../../mesh/proxy.js";
import { issuerSecret } from "./issuer-secret.js";
import { SECRET_TYPE, type EnvoyResource } from "./resource.js";

/** The mesh's trust bundle as the SDS Secret `ROOTCA`. */
export function trustBundleSecret(trustBundlePem: string): EnvoyResource {
  return {
    typeUrl: SECRET_TYPE,
    name: ROOT_CA_SECRET,
    json: { name: ROOT_CA_SECRET, validation_context: { trusted_ca: { inline_string: trustBundlePem } } },
  };
}

/**
 * All the xDS server publishes for a proven identity: `ROOTCA` and
 * `skiff-issuer`. Never `default` (a certificate and its key): keys are made
 * in the Pod and certificates signed by CSR, and the Pod's agent serves
 * `default` to its Envoy itself.
 */
export function identitySecrets(trust: {
  trustBundlePem: string;
  spiffeId: string;
  signerPem: string;
}): EnvoyResource[] {
  return [
    trustBundleSecret(trust.trustBundlePem),
    issuerSecret({ spiffeId: trust.spiffeId, signerPem: trust.signerPem }),
  ];
}
