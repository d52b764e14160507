import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { Mesh } from "../../api/v1alpha1/generated/mesh.js";
import { hostname } from "node:os";
import { Controller } from "../../k8s/controller.js";
import { EventRecorder } from "../../k8s/events.js";
import { Informer } from "../../k8s/informer.js";
import { GENERATED_OBJECTS } from "./generated.js";
import { onlyProxyCountChanged } from "./proxy-count-updates.js";
import { MeshReconciler } from "./reconciler.js";
import { MANAGED_BY_LABEL } from "../../mesh/annotations.js";
import { CA_SECRET, CERT_MANAGER_SECRET } from "../../mesh/names.js";

export interface RunningController {
  stop(): Promise<void>;
}

/**
 * Starts the Mesh controller: informers on Meshes and on everything the Mesh
 * reconciler reads or generates, each event mapped to the Mesh it concerns.
 * Resolves once every informer has synced.
 */
export async function startMeshController(
  kubeConfig: KubeConfig,
  options: {
    operatorImage: string;
    logger: Logger;
    concurrency?: number;
    instance?: string;
    /** How long a regenerated root is trusted before it signs; tests shorten the minute. */
    rootTrustPeriodMs?: number;
  },
): Promise<RunningController> {
  const reconciler = new MeshReconciler(kubeConfig, {
    operatorImage: options.operatorImage,
    ...(options.rootTrustPeriodMs === undefined ? {} : { rootTrustPeriodMs: options.rootTrustPeriodMs }),
    events: new EventRecorder(kubeConfig, "skiff.dev/mesh-controller", options.instance ?? hostname()),
  });
  const controller = new Controller("mesh", (request) => reconciler.reconcile(request.name, request.log), {
    logger: options.logger,
    concurrency: options.concurrency ?? 1,
  });

  const meshes = new Informer<Mesh & KubernetesObject>(kubeConfig, "skiff.dev/v1alpha1", "Mesh", {
    resyncMs: 10 * 60_000,
  });
  const everyMesh = () => meshes.list().forEach((m) => controller.enqueueObject(m));
  const ownerMesh = (obj: KubernetesObject) => {
    const mesh = obj.metadata?.labels?.[MANAGED_BY_LABEL];
    if (mesh) controller.enqueue(mesh);
  };
  // A namespace gaining or losing the injection label changes which ConfigMaps exist.
  const namespaces = new Informer(kubeConfig, "v1", "Namespace");
  // Every generated object, watched by its name (which the operator's RBAC
  // can name, unlike a label): drift, an edit or a deletion, is repaired at
  // once, and the Deployment's status feeds ControlPlaneAvailable.
  const generated = GENERATED_OBJECTS.map(
    ({ apiVersion, kind, name }) =>
      new Informer(kubeConfig, apiVersion, kind, { fieldSelector: `metadata.name=${name}` }),
  );
  // The CA, builtin or issued by cert-manager: one that appears, changes or goes is seen at once.
  const caSecrets = [CA_SECRET, CERT_MANAGER_SECRET].map(
    (name) => new Informer(kubeConfig, "v1", "Secret", { fieldSelector: `metadata.name=${name}` }),
  );
  // Every Mesh, not just the one that changed: deleting the cluster's Mesh hands the role to the next.
  meshes.on((event) => {
    if (!onlyProxyCountChanged(event)) everyMesh();
  });
  namespaces.on(everyMesh);
  for (const informer of generated) {
    informer.on((event) => {
      ownerMesh(event.object);
      // An edit that strips the label is drift too: the Mesh is named by what the object was.
      if (event.type === "update") ownerMesh(event.old);
    });
  }
  caSecrets.forEach((informer) => informer.on(everyMesh));
  const informers = [meshes, namespaces, ...generated, ...caSecrets];

  try {
    await Promise.all(informers.map((i) => i.start()));
  } catch (error) {
    informers.forEach((i) => i.stop());
    throw error;
  }
  controller.start();
  return {
    async stop() {
      informers.forEach((i) => i.stop());
      await controller.shutdown();
    },
  };
}
