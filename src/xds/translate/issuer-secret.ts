import { SECRET_TYPE, type EnvoyResource } from "./resource.js";

/**
 * The SDS Secret that tells an agent which certificate to hold: its SPIFFE
 * ID and the CA that signs for the mesh now. Published with ROOTCA, to the
 * proxies that proved the identity.
 *
 * Why: an agent makes its own key and gets its certificate by CSR, so when
 * the signer changes (step 2 of the staged root rotation) the xDS server
 * cannot re-issue it; it can only say so. An agent whose leaf the named
 * signer did not issue requests a new certificate at once. Envoy never
 * subscribes to this name, so sidecars never see it.
 */
export const ISSUER_SECRET = "skiff-issuer";
/** Keys of the Secret's generic_secret.secrets map. */
export const ISSUER_SPIFFE_ID = "spiffe_id";
export const ISSUER_SIGNER = "signer";

export function issuerSecret(issuer: { spiffeId: string; signerPem: string }): EnvoyResource {
  return {
    typeUrl: SECRET_TYPE,
    name: ISSUER_SECRET,
    json: {
      name: ISSUER_SECRET,
      generic_secret: {
        secrets: {
          [ISSUER_SPIFFE_ID]: { inline_string: issuer.spiffeId },
          [ISSUER_SIGNER]: { inline_string: issuer.signerPem },
        },
      },
    },
  };
}
