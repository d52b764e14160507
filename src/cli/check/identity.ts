import type { KubernetesObject } from "@kubernetes/client-node";
import { DEFAULT_INJECTION_SELECTOR } from "../../api/v1alpha1/mesh.js";
import { caExpiryCondition, CA_EXPIRY_WARNING_MS } from "../../controllers/mesh/ca-expiry.js";
import { selectorMatches, type LabelSelector } from "../../k8s/selector.js";
import { TRUST_BUNDLE_CONFIGMAP } from "../../mesh/names.js";
import { x509 } from "../../pki/crypto.js";
import { certificatePems } from "../../pki/pem.js";
import { getObject, listObjects, type ReadableKind } from "../cluster/read.js";
import { meshCondition, type MeshObject } from "./mesh.js";
import { failed, passed, warned, type CheckResult } from "./result.js";

const NAMESPACE: ReadableKind = { group: "", version: "v1", kind: "Namespace", plural: "namespaces" };
const CONFIG_MAP: ReadableKind = { group: "", version: "v1", kind: "ConfigMap", plural: "configmaps" };
const DAY_MS = 24 * 3600_000;

export interface TrustBundle {
  readonly namespace: string;
  readonly pem: string;
}

/**
 * The trust bundle (the mesh's root certificates) as a meshed namespace has
 * it: the operator writes skiff-trust-bundle into every namespace the Mesh
 * injects, and anyone who may read ConfigMaps may read it, unlike the CA
 * Secret. Undefined when no namespace is meshed yet or none has it.
 */
export async function readTrustBundle(mesh: MeshObject): Promise<TrustBundle | undefined> {
  const selector =
    (mesh.spec?.injection?.namespaceSelector as LabelSelector | undefined) ?? DEFAULT_INJECTION_SELECTOR;
  const meshed = (await listObjects(NAMESPACE)).filter((ns) =>
    selectorMatches(selector, ns.metadata?.labels),
  );
  for (const namespace of meshed) {
    const name = namespace.metadata?.name ?? "";
    const configMap = (await getObject(CONFIG_MAP, TRUST_BUNDLE_CONFIGMAP, name)) as
      (KubernetesObject & { data?: Record<string, string> }) | undefined;
    const pem = configMap?.data?.["root-cert.pem"];
    if (pem) return { namespace: name, pem };
  }
  return undefined;
}

/**
 * The mesh's identity: the CA is ready, not expired nor expiring within 30
 * days (the Mesh's status, as CertificateAuthorityNotExpiringSoon judges
 * it), and every root in the trust bundle is within its validity. Pure.
 */
export function identityChecks(mesh: MeshObject, bundle: TrustBundle | undefined, now: Date): CheckResult[] {
  const name = mesh.metadata?.name ?? "";
  const ready = meshCondition(mesh, "CertificateAuthorityReady");
  const checks: CheckResult[] = [
    ready?.status === "True"
      ? passed("ca-ready", "the mesh certificate authority is ready", ready.message)
      : failed(
          "ca-ready",
          "the mesh certificate authority is ready",
          ready
            ? `reason ${ready.reason}: ${ready.message}`
            : `the Mesh ${name} reports no CertificateAuthorityReady condition yet`,
          "see the Mesh's CertificateAuthorityReady condition (kubectl describe mesh) and the README's CA section",
        ),
  ];
  const expiry = caExpiryCondition(mesh.status?.certificateAuthority?.notAfter, now);
  const expiryDescription = "the mesh certificate authority is not expiring soon";
  const rotate = 'rotate the root CA (README, "Rotating the mesh root CA")';
  checks.push(
    expiry.status === "True"
      ? passed("ca-expiry", expiryDescription, expiry.message)
      : expiry.reason === "ExpiringSoon"
        ? warned("ca-expiry", expiryDescription, expiry.message, rotate)
        : failed(
            "ca-expiry",
            expiryDescription,
            expiry.message,
            expiry.reason === "Expired"
              ? rotate
              : "the operator records the CA once it is ready: see the check above",
          ),
  );
  checks.push(trustBundleCheck(bundle, now));
  return checks;
}

/** The roots sidecars trust: each valid now, and more than 30 days from its end. Pure. */
export function trustBundleCheck(bundle: TrustBundle | undefined, now: Date): CheckResult {
  const description = "the trust anchors are within their validity period";
  if (!bundle)
    return warned(
      "trust-anchors",
      description,
      `no meshed namespace has the ConfigMap ${TRUST_BUNDLE_CONFIGMAP} yet, so there is no trust bundle to read`,
      "label a namespace for injection (skiff.dev/injection=enabled); the operator writes the trust bundle into it",
    );
  const where = `${bundle.namespace}/${TRUST_BUNDLE_CONFIGMAP}`;
  let roots: x509.X509Certificate[];
  try {
    roots = certificatePems(bundle.pem).map((pem) => new x509.X509Certificate(pem));
  } catch (error) {
    return failed(
      "trust-anchors",
      description,
      `${where} holds a certificate that cannot be read: ${(error as Error).message}`,
      "the operator rewrites it from the CA: check that it runs",
    );
  }
  if (roots.length === 0)
    return failed(
      "trust-anchors",
      description,
      `${where} holds no certificate`,
      "the operator rewrites it from the CA: check that it runs",
    );
  const problems: string[] = [];
  const soon: string[] = [];
  for (const root of roots) {
    const days = Math.floor((root.notAfter.getTime() - now.getTime()) / DAY_MS);
    if (root.notBefore > now)
      problems.push(`${root.subject} is not valid before ${root.notBefore.toISOString()}`);
    else if (root.notAfter <= now) problems.push(`${root.subject} expired at ${root.notAfter.toISOString()}`);
    else if (root.notAfter.getTime() - now.getTime() <= CA_EXPIRY_WARNING_MS)
      soon.push(`${root.subject} expires at ${root.notAfter.toISOString()}, in ${days} days`);
  }
  const summary = roots
    .map(
      (root) =>
        `${root.subject}: valid until ${root.notAfter.toISOString()} (${Math.floor((root.notAfter.getTime() - now.getTime()) / DAY_MS)} days)`,
    )
    .join("; ");
  if (problems.length > 0)
    return failed(
      "trust-anchors",
      description,
      `in ${where}: ${problems.join("; ")}`,
      'rotate the root CA (README, "Rotating the mesh root CA"); check the clocks of the nodes too',
    );
  if (soon.length > 0)
    return warned(
      "trust-anchors",
      description,
      `in ${where}: ${soon.join("; ")}`,
      'rotate the root CA (README, "Rotating the mesh root CA")',
    );
  return passed("trust-anchors", description, summary);
}
