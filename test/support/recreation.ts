import { Watch, type KubeConfig, type KubernetesObject } from "@kubernetes/client-node";
import { RestClient } from "../../src/k8s/rest.js";

/** One object, by kind and name. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}

export const describeRef = (ref: ObjectRef) =>
  `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ""}${ref.name}`;

/**
 * Deletes an object and resolves once an object of that name exists again
 * with another uid, that is once a controller has re-created it. It watches
 * from the resourceVersion it read before deleting, so it misses no event and
 * never polls; it rejects, naming the object, after `timeoutMs`.
 */
export async function deleteAndAwaitRecreation(
  kubeConfig: KubeConfig,
  ref: ObjectRef,
  timeoutMs: number,
): Promise<void> {
  const rest = new RestClient(kubeConfig);
  const collection = await rest.path(ref.apiVersion, ref.kind, ref.namespace ?? null);
  const current = await rest.request<KubernetesObject>(
    "GET",
    await rest.path(ref.apiVersion, ref.kind, ref.namespace ?? null, ref.name),
  );
  const deletedUid = current.metadata!.uid;

  let abort: AbortController | undefined;
  let timer: NodeJS.Timeout | undefined;
  const recreated = new Promise<void>((resolve, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${describeRef(ref)} was not re-created within ${timeoutMs} ms`)),
      timeoutMs,
    );
    new Watch(kubeConfig)
      .watch(
        collection,
        { fieldSelector: `metadata.name=${ref.name}`, resourceVersion: current.metadata!.resourceVersion },
        (phase, obj: KubernetesObject) => {
          if ((phase === "ADDED" || phase === "MODIFIED") && obj.metadata?.uid !== deletedUid) resolve();
        },
        (error: unknown) =>
          reject(new Error(`the watch of ${describeRef(ref)} ended: ${String(error ?? "closed")}`)),
      )
      .then(async (controller) => {
        abort = controller;
        await rest.request("DELETE", collection + `/${encodeURIComponent(ref.name)}`);
      })
      .catch(reject);
  });
  try {
    await recreated;
  } finally {
    clearTimeout(timer);
    abort?.abort();
  }
}
