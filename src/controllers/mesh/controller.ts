import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { hostname } from "node:os";
import { Controller } from "../../k8s/controller.js";
import { EventRecorder } from "../../k8s/events.js";
import { MeshCache } from "./cache.js";
import { onlyProxyCountChanged } from "./proxy-count-updates.js";
import { MeshReconciler } from "./reconciler.js";
import { MANAGED_BY_LABEL } from "../../mesh/annotations.js";

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
  const cache = new MeshCache(kubeConfig);
  const reconciler = new MeshReconciler(kubeConfig, cache, {
    operatorImage: options.operatorImage,
    ...(options.rootTrustPeriodMs === undefined ? {} : { rootTrustPeriodMs: options.rootTrustPeriodMs }),
    events: new EventRecorder(kubeConfig, "skiff.dev/mesh-controller", options.instance ?? hostname()),
  });
  const controller = new Controller("mesh", (request) => reconciler.reconcile(request.name, request.log), {
    logger: options.logger,
    concurrency: options.concurrency ?? 1,
  });

  const everyMesh = () => cache.meshes.list().forEach((m) => controller.enqueueObject(m));
  const ownerMesh = (obj: KubernetesObject) => {
    const mesh = obj.metadata?.labels?.[MANAGED_BY_LABEL];
    if (mesh) controller.enqueue(mesh);
  };
  // Every Mesh, not just the one that changed: deleting the cluster's Mesh hands the role to the next.
  cache.meshes.on((event) => {
    if (!onlyProxyCountChanged(event) && !reconciler.statusWrites.isEcho(event)) everyMesh();
  });
  cache.namespaces.on(everyMesh);
  for (const informer of cache.generated.values()) {
    informer.on((event) => {
      ownerMesh(event.object);
      // An edit that strips the label is drift too: the Mesh is named by what the object was.
      if (event.type === "update") ownerMesh(event.old);
    });
  }
  cache.caSecrets.forEach((informer) => informer.on(everyMesh));
  const informers = cache.informers;

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
