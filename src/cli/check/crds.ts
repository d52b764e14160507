import type { KubernetesObject } from "@kubernetes/client-node";
import { getObject, type ReadableKind } from "../cluster/read.js";
import { SKIFF_API_VERSION, SKIFF_CRDS } from "./installation.js";
import { failed, passed, warned, type CheckResult } from "./result.js";

const CRD_KIND: ReadableKind = {
  group: "apiextensions.k8s.io",
  version: "v1",
  kind: "CustomResourceDefinition",
  plural: "customresourcedefinitions",
};

/** The fields of a CRD the checks read. */
export interface Crd extends KubernetesObject {
  spec?: { versions?: { name: string; served?: boolean; storage?: boolean }[] };
  status?: {
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
    storedVersions?: string[];
  };
}

/** Skiff's CRDs as the cluster has them: undefined for one that is not there. */
export async function readSkiffCrds(): Promise<Map<string, Crd | undefined>> {
  const entries = await Promise.all(
    SKIFF_CRDS.map(async (name) => [name, (await getObject(CRD_KIND, name)) as Crd | undefined] as const),
  );
  return new Map(entries);
}

const servesSkiffVersion = (crd: Crd) =>
  (crd.spec?.versions ?? []).some((v) => v.name === SKIFF_API_VERSION && v.served !== false);

/**
 * Before install: no CRD of Skiff's names that the install cannot take over.
 * One already there and serving v1alpha1 is a warning (an install updates
 * it); one without v1alpha1 is a failure. Pure.
 */
export function preInstallCrdChecks(crds: ReadonlyMap<string, Crd | undefined>): CheckResult[] {
  return [...crds].map(([name, crd]) => {
    const description = `no incompatible ${name} CRD is installed`;
    if (!crd) return passed("pre-crds", description);
    if (servesSkiffVersion(crd))
      return warned(
        "pre-crds",
        description,
        `${name} is already installed (it serves ${SKIFF_API_VERSION}); installing updates it`,
        "if Skiff is already installed, run skiff check without --pre",
      );
    return failed(
      "pre-crds",
      description,
      `${name} is installed but does not serve ${SKIFF_API_VERSION} (it serves ${(crd.spec?.versions ?? []).map((v) => v.name).join(", ") || "nothing"})`,
      `another version of Skiff, or another product, owns ${name}: remove it (kubectl delete crd ${name}) before installing`,
    );
  });
}

/** After install: every CRD exists, is Established, serves v1alpha1 and has stored it. Pure. */
export function installedCrdChecks(crds: ReadonlyMap<string, Crd | undefined>): CheckResult[] {
  return [...crds].map(([name, crd]) => {
    const description = `the ${name} CRD is installed and Established`;
    if (!crd)
      return failed(
        "crds",
        description,
        `the CRD ${name} is not installed`,
        "install Skiff's CRDs: kubectl apply -k config/crd (or all of Skiff: kubectl apply -k config/default)",
      );
    if (crd.metadata?.deletionTimestamp)
      return failed(
        "crds",
        description,
        `${name} is being deleted (since ${String(crd.metadata.deletionTimestamp)}), and every object of its kind with it`,
        "reinstall Skiff's CRDs once it is gone: kubectl apply -k config/crd",
      );
    const established = crd.status?.conditions?.find((c) => c.type === "Established");
    if (established?.status !== "True")
      return failed(
        "crds",
        description,
        `${name} is not Established${established?.message ? `: ${established.message}` : ""}`,
        `see why with kubectl describe crd ${name}; a name conflict with another CRD keeps it from being served`,
      );
    const stored = crd.status?.storedVersions ?? [];
    if (!servesSkiffVersion(crd) || !stored.includes(SKIFF_API_VERSION))
      return failed(
        "crds",
        description,
        `${name} serves ${(crd.spec?.versions ?? []).map((v) => v.name).join(", ") || "nothing"} and has stored ${stored.join(", ") || "nothing"}, not ${SKIFF_API_VERSION}`,
        "reinstall this version's CRDs: kubectl apply -k config/crd",
      );
    return passed("crds", description);
  });
}
