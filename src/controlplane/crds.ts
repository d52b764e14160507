import type { KubeConfig, V1CustomResourceDefinition } from "@kubernetes/client-node";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { ServerSideApplier } from "../k8s/apply.js";
import { apiPath, RestClient } from "../k8s/rest.js";

/** Reads every CustomResourceDefinition in a folder of YAML files. */
export async function readCrds(dir: string): Promise<V1CustomResourceDefinition[]> {
  const crds: V1CustomResourceDefinition[] = [];
  for (const name of (await readdir(dir)).filter((n) => /\.ya?ml$/.test(n)).sort()) {
    for (const doc of parseAllDocuments(await readFile(join(dir, name), "utf8"))) {
      const obj = doc.toJS() as V1CustomResourceDefinition | null;
      if (obj?.kind === "CustomResourceDefinition") crds.push(obj);
    }
  }
  return crds;
}

function isEstablished(crd: V1CustomResourceDefinition): boolean {
  return (crd.status?.conditions ?? []).some((c) => c.type === "Established" && c.status === "True");
}

/**
 * Applies the CRDs and waits until each is Established (served by the API
 * server), as envtest's InstallCRDs does. A CRD the server refuses, or one
 * whose names are not accepted, fails with the server's message.
 */
export async function installCrds(
  kubeConfig: KubeConfig,
  crds: V1CustomResourceDefinition[],
  timeoutMs = 30_000,
): Promise<void> {
  const applier = new ServerSideApplier(kubeConfig, "skiff/controlplane");
  const rest = new RestClient(kubeConfig);
  await Promise.all(crds.map((crd) => applier.apply(crd)));
  const deadline = Date.now() + timeoutMs;
  for (const crd of crds) {
    const name = crd.metadata!.name!;
    for (;;) {
      const current = await rest.request<V1CustomResourceDefinition>(
        "GET",
        apiPath`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`,
      );
      if (isEstablished(current)) break;
      const refused = current.status?.conditions?.find(
        (c) => c.type === "NamesAccepted" && c.status === "False",
      );
      if (refused) throw new Error(`CRD ${name}: names not accepted: ${refused.message}`);
      if (Date.now() > deadline)
        throw new Error(`CRD ${name} was not Established after ${timeoutMs / 1000}s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
