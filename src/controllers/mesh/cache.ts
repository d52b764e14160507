import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import type { Mesh } from "../../api/v1alpha1/generated/mesh.js";
import { Informer } from "../../k8s/informer.js";
import { GENERATED_OBJECTS, type GeneratedObject } from "./generated.js";
import { MANAGED_BY_LABEL } from "../../mesh/annotations.js";
import { CA_SECRET, CERT_MANAGER_SECRET } from "../../mesh/names.js";

export interface Secret extends KubernetesObject {
  data?: Record<string, string>;
}

const kindKey = (apiVersion: string, kind: string) => `${apiVersion}/${kind}`;

/**
 * The informer caches the Mesh controller watches and its reconciler reads
 * instead of asking the API server: Meshes, Namespaces, every generated
 * object by its one name (which the operator's RBAC can name, unlike a
 * label) and the CA Secrets by theirs. So each cache holds only Skiff's own
 * objects of a kind, never a cluster's Secrets or ConfigMaps at large.
 */
export class MeshCache {
  readonly meshes: Informer<Mesh & KubernetesObject>;
  /** A namespace gaining or losing the injection label changes which ConfigMaps exist. */
  readonly namespaces: Informer;
  /** Every generated object, watched by its name: drift is repaired at once, and the Deployment's status feeds ControlPlaneAvailable. */
  readonly generated: ReadonlyMap<GeneratedObject, Informer>;
  /** The CA, builtin or issued by cert-manager: one that appears, changes or goes is seen at once. */
  readonly caSecrets: ReadonlyMap<string, Informer<Secret>>;
  private readonly byKind = new Map<string, Informer[]>();

  constructor(kubeConfig: KubeConfig) {
    this.meshes = new Informer<Mesh & KubernetesObject>(kubeConfig, "skiff.dev/v1alpha1", "Mesh", {
      resyncMs: 10 * 60_000,
    });
    this.namespaces = new Informer(kubeConfig, "v1", "Namespace");
    this.generated = new Map(
      GENERATED_OBJECTS.map((generated) => [
        generated,
        new Informer(kubeConfig, generated.apiVersion, generated.kind, {
          fieldSelector: `metadata.name=${generated.name}`,
        }),
      ]),
    );
    this.caSecrets = new Map(
      [CA_SECRET, CERT_MANAGER_SECRET].map((name) => [
        name,
        new Informer<Secret>(kubeConfig, "v1", "Secret", { fieldSelector: `metadata.name=${name}` }),
      ]),
    );
    for (const informer of [this.namespaces, ...this.generated.values()]) {
      const key = kindKey(informer.apiVersion, informer.kind);
      this.byKind.set(key, [...(this.byKind.get(key) ?? []), informer]);
    }
  }

  /** Every informer, to start and stop together. */
  get informers(): { start(): Promise<void>; stop(): void }[] {
    return [this.meshes, this.namespaces, ...this.generated.values(), ...this.caSecrets.values()];
  }

  /** The object as last seen, for one the Mesh reconciler applies (a generated object or its root Namespace). */
  stored(object: KubernetesObject): KubernetesObject | undefined {
    const { namespace, name } = object.metadata ?? {};
    if (!name) return undefined;
    for (const informer of this.byKind.get(kindKey(object.apiVersion ?? "", object.kind ?? "")) ?? []) {
      const found = namespace ? informer.get(namespace, name) : informer.get(name);
      if (found) return found;
    }
    return undefined;
  }

  /** What the Mesh `mesh` generated of one kind and name, in every namespace, as last seen. */
  managed(mesh: string, generated: GeneratedObject): KubernetesObject[] {
    return (this.generated.get(generated)?.list() ?? []).filter(
      (o) => o.metadata?.labels?.[MANAGED_BY_LABEL] === mesh,
    );
  }
}
