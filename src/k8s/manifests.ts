import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { ServerSideApplier } from "./apply.js";

/** Files kustomize reads as configuration, not as objects. */
const NOT_OBJECTS = new Set(["kustomization.yaml", "kustomization.yml", "Kustomization"]);

/** Parses every object in a YAML file, or in the YAML files of a folder (sorted by name). */
export async function readManifests(path: string): Promise<KubernetesObject[]> {
  const files = (await stat(path)).isDirectory()
    ? (await readdir(path))
        .filter((n) => /\.ya?ml$/.test(n) && !NOT_OBJECTS.has(n))
        .sort()
        .map((n) => join(path, n))
    : [path];
  const objects: KubernetesObject[] = [];
  for (const file of files) {
    for (const doc of parseAllDocuments(await readFile(file, "utf8"))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
      const obj = doc.toJS() as KubernetesObject | null;
      if (obj) objects.push(obj);
    }
  }
  return objects;
}

/** Namespaces first, then cluster-scoped configuration, then the rest, so references resolve. */
function applyOrder(obj: KubernetesObject): number {
  if (obj.kind === "Namespace") return 0;
  if (obj.kind === "CustomResourceDefinition") return 1;
  if (!obj.metadata?.namespace) return 2;
  return 3;
}

/** Server-side applies objects in dependency order. */
export async function applyManifests(
  kubeConfig: KubeConfig,
  fieldManager: string,
  objects: KubernetesObject[],
) {
  const applier = new ServerSideApplier(kubeConfig, fieldManager);
  for (const obj of [...objects].sort((a, b) => applyOrder(a) - applyOrder(b))) {
    await applier.apply(obj);
  }
}
