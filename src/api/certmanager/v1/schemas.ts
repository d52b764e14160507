/**
 * JSON Schema for the part of cert-manager.io/v1 that Skiff uses, written from
 * cert-manager's public API reference. Skiff never installs these CRDs; it only
 * creates and reads Certificates and reads Issuers and ClusterIssuers, so only
 * the fields it touches are described. `make generate` turns these into
 * TypeScript types in ./generated/.
 */
import { array, boolean, enumOf, integer, labels, map, object, string, type Schema } from "../../schema.js";

export const CERT_MANAGER_API_VERSION = "cert-manager.io/v1";

/** Annotation values are free text, unlike label values. */
const annotations = (description: string): Schema =>
  map(description, string("An annotation value."), { maxProperties: 64 });

const metadata: Schema = object("Standard object metadata (the fields Skiff sets or reads).", {
  name: string("The object's name."),
  namespace: string("The object's namespace."),
  labels: labels("Labels."),
  annotations: annotations("Annotations."),
  generation: integer("The generation of the spec."),
  resourceVersion: string("The resource version, for optimistic concurrency."),
});

const condition: Schema = object(
  "A cert-manager condition.",
  {
    type: string("Ready, or Issuing for Certificates."),
    status: enumOf("True, False or Unknown.", ["True", "False", "Unknown"]),
    reason: string("A machine-readable reason."),
    message: string("A human-readable message."),
    lastTransitionTime: string("When the status last changed.", { format: "date-time" }),
    observedGeneration: integer("The generation the condition was set from."),
  },
  { required: ["type", "status"] },
);

const conditions = array("Conditions.", condition, { maxItems: 16 });

export const objectReference: Schema = {
  ...object(
    "A reference to the issuer that signs a Certificate.",
    {
      name: string("Name of the issuer."),
      kind: string("Issuer or ClusterIssuer; cert-manager defaults to Issuer."),
      group: string("API group of the issuer; cert-manager.io for cert-manager's own issuers."),
    },
    { required: ["name"] },
  ),
  title: "IssuerReference",
};

const KEY_USAGES = [
  "signing",
  "digital signature",
  "content commitment",
  "key encipherment",
  "key agreement",
  "data encipherment",
  "cert sign",
  "crl sign",
  "encipher only",
  "decipher only",
  "any",
  "server auth",
  "client auth",
  "code signing",
  "email protection",
  "s/mime",
  "ipsec end system",
  "ipsec tunnel",
  "ipsec user",
  "timestamping",
  "ocsp signing",
  "microsoft sgc",
  "netscape sgc",
] as const;

export const certificate: Schema = {
  ...object(
    "A cert-manager Certificate: a request for a certificate, kept renewed in a Secret.",
    {
      apiVersion: enumOf("Always cert-manager.io/v1.", [CERT_MANAGER_API_VERSION]),
      kind: enumOf("Always Certificate.", ["Certificate"]),
      metadata,
      spec: object(
        "The desired certificate.",
        {
          secretName: string("The Secret that receives tls.crt, tls.key and ca.crt."),
          commonName: string("The subject's common name."),
          duration: string("The requested validity, such as 2160h."),
          renewBefore: string("How long before expiry cert-manager renews the certificate."),
          isCA: boolean("Whether the certificate is a CA (sets BasicConstraints CA=true)."),
          usages: array("Key usages and extended key usages.", enumOf("A usage.", KEY_USAGES), {
            maxItems: 23,
          }),
          dnsNames: array("DNS subject alternative names.", string("A DNS name."), { maxItems: 100 }),
          uris: array("URI subject alternative names, such as SPIFFE IDs.", string("A URI."), {
            maxItems: 100,
          }),
          privateKey: object("The private key.", {
            algorithm: enumOf("The key algorithm.", ["RSA", "ECDSA", "Ed25519"]),
            size: integer("Key size: bits for RSA, the curve for ECDSA (256, 384, 521)."),
            encoding: enumOf("Key encoding in the Secret.", ["PKCS1", "PKCS8"]),
            rotationPolicy: enumOf("Whether a new key is made at each renewal.", ["Never", "Always"]),
          }),
          issuerRef: objectReference,
          secretTemplate: object("Labels and annotations copied onto the Secret.", {
            labels: labels("Labels."),
            annotations: annotations("Annotations."),
          }),
        },
        { required: ["secretName", "issuerRef"] },
      ),
      status: object("The observed state of the certificate.", {
        conditions,
        notBefore: string("Start of the current certificate's validity.", { format: "date-time" }),
        notAfter: string("End of the current certificate's validity.", { format: "date-time" }),
        renewalTime: string("When cert-manager will next renew.", { format: "date-time" }),
        revision: integer("Incremented at each issuance."),
      }),
    },
    { required: ["apiVersion", "kind", "metadata", "spec"] },
  ),
  title: "Certificate",
};

const issuerSpec: Schema = object(
  "How the issuer signs certificates. Skiff reads which kind of issuer it is; exactly one kind is set.",
  {
    ca: object(
      "Sign with a CA key pair held in a Secret.",
      { secretName: string("The Secret holding tls.crt and tls.key of the CA.") },
      { required: ["secretName"] },
    ),
    selfSigned: object("Each certificate signs itself.", {
      crlDistributionPoints: array("CRL distribution points.", string("A URL."), { maxItems: 16 }),
    }),
    vault: object(
      "Sign with HashiCorp Vault (only its presence is read).",
      {},
      { additionalProperties: true },
    ),
    acme: object("Sign with an ACME server (only its presence is read).", {}, { additionalProperties: true }),
  },
);

const issuerStatus: Schema = object("The observed state of the issuer.", { conditions });

function issuer(kind: "Issuer" | "ClusterIssuer", description: string): Schema {
  return {
    ...object(
      description,
      {
        apiVersion: enumOf("Always cert-manager.io/v1.", [CERT_MANAGER_API_VERSION]),
        kind: enumOf(`Always ${kind}.`, [kind]),
        metadata,
        spec: { ...issuerSpec, title: "IssuerSpec" },
        status: { ...issuerStatus, title: "IssuerStatus" },
      },
      { required: ["apiVersion", "kind", "metadata", "spec"] },
    ),
    title: kind,
  };
}

export const CERT_MANAGER_SCHEMAS: Record<string, Schema> = {
  certificate,
  issuer: issuer("Issuer", "A namespaced cert-manager issuer."),
  clusterissuer: issuer("ClusterIssuer", "A cluster-scoped cert-manager issuer."),
};
