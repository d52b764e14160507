/**
 * The certificates of a sidecar's Envoy, read from its admin endpoint, and
 * the mesh CA Secret the tests rotate: what the mTLS end-to-end tests wait
 * on and assert.
 */
import { X509Certificate } from "node:crypto";
import { CA_SECRET } from "../../src/mesh/names.js";
import { certificatePems } from "../../src/pki/pem.js";
import { envoyAdmin } from "./envoy-admin.js";
import { rest } from "./kit.js";

/** The mesh's root namespace in the end-to-end cluster (its Mesh's rootNamespace), where the CA Secret lives. */
const ROOT_NAMESPACE = "skiff-system";

/**
 * The SDS Secrets a sidecar's Envoy accepted from its agent: `default` (its
 * certificate chain, leaf first; Envoy redacts the key) and `ROOTCA` (the
 * roots it trusts).
 */
export interface HeldSecrets {
  leaf: X509Certificate;
  roots: X509Certificate[];
}

interface DumpedSecret {
  name?: string;
  secret?: {
    tls_certificate?: { certificate_chain?: { inline_string?: string } };
    validation_context?: { trusted_ca?: { inline_string?: string } };
  };
}

/** A sidecar's {@link HeldSecrets}, from its config_dump; fails while either is missing. */
export async function heldSecrets(namespace: string, pod: string): Promise<HeldSecrets> {
  const dump = JSON.parse(
    await envoyAdmin(namespace, pod, "/config_dump?resource=dynamic_active_secrets"),
  ) as { configs?: DumpedSecret[] };
  const secret = (name: string) => dump.configs?.find((c) => c.name === name)?.secret;
  const chain = secret("default")?.tls_certificate?.certificate_chain?.inline_string;
  const roots = secret("ROOTCA")?.validation_context?.trusted_ca?.inline_string;
  if (!chain || !roots)
    throw new Error(`${namespace}/${pod}'s Envoy holds no default and ROOTCA secrets yet`);
  return {
    leaf: new X509Certificate(certificatePems(chain)[0]!),
    roots: certificatePems(roots).map((pem) => new X509Certificate(pem)),
  };
}

/** A certificate serial as Envoy's /certs writes it: lower-case hex, no leading zeros. */
export const serial = (hex: string) => hex.toLowerCase().replace(/^0+(?=.)/, "");

/**
 * What every TLS context of a sidecar (each mTLS filter chain and upstream
 * transport socket) uses now, from /certs: the serials of the leaves it
 * presents and of the CA certificates it validates with. Envoy lists one CA
 * per context (the bundle's first), so /certs cannot show a bundle of two;
 * {@link heldSecrets} can.
 */
export async function certsInUse(
  namespace: string,
  pod: string,
): Promise<{ contexts: number; leaves: string[]; cas: string[] }> {
  type Info = { serial_number: string };
  const { certificates = [] } = JSON.parse(await envoyAdmin(namespace, pod, "/certs")) as {
    certificates?: { ca_cert?: Info[]; cert_chain?: Info[] }[];
  };
  const unique = (values: string[]) => [...new Set(values.map(serial))].sort();
  return {
    contexts: certificates.length,
    leaves: unique(certificates.flatMap((c) => (c.cert_chain ?? []).slice(0, 1).map((i) => i.serial_number))),
    cas: unique(certificates.flatMap((c) => (c.ca_cert ?? []).map((i) => i.serial_number))),
  };
}

/** Whether `issuer` issued and signed `certificate`. */
export function issuedBy(certificate: X509Certificate, issuer: X509Certificate): boolean {
  return certificate.checkIssued(issuer) && certificate.verify(issuer.publicKey);
}

/** The mesh CA Secret's keys, decoded: `tls.crt` and `tls.key` sign, `ca.crt` (when present) is every trusted root. */
export async function readMeshCa(): Promise<Record<string, string>> {
  const secret = await rest().request<{ data?: Record<string, string> }>(
    "GET",
    `/api/v1/namespaces/${ROOT_NAMESPACE}/secrets/${CA_SECRET}`,
  );
  return Object.fromEntries(
    Object.entries(secret.data ?? {}).map(([key, value]) => [
      key,
      Buffer.from(value, "base64").toString("utf8"),
    ]),
  );
}

/** Changes keys of the mesh CA Secret, as an operator rotating the mesh's roots does (a merge patch). */
export async function patchMeshCa(data: Record<string, string>): Promise<void> {
  await rest().request("PATCH", `/api/v1/namespaces/${ROOT_NAMESPACE}/secrets/${CA_SECRET}`, {
    body: { stringData: data },
    contentType: "application/merge-patch+json",
  });
}
