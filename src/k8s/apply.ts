import {
  KubernetesObjectApi,
  PatchStrategy,
  type KubeConfig,
  type KubernetesObject,
} from "@kubernetes/client-node";

/**
 * Server-side apply with our own field manager.
 * kubernetes-fluent-client's Apply hard-codes the manager `pepr`, so Skiff
 * applies through @kubernetes/client-node, where each controller passes its
 * own manager (skiff/mesh, skiff/trafficpolicy, ...) and ownership of every
 * field stays attributable. `force` takes over fields another manager set,
 * which is what a controller wants for the fields it declares.
 */
export class ServerSideApplier {
  private readonly api: KubernetesObjectApi;

  constructor(
    kubeConfig: KubeConfig,
    readonly fieldManager: string,
  ) {
    this.api = KubernetesObjectApi.makeApiClient(kubeConfig);
  }

  apply<T extends KubernetesObject>(object: T, options: { force?: boolean } = {}): Promise<T> {
    return this.api.patch(
      object,
      undefined,
      undefined,
      this.fieldManager,
      options.force ?? true,
      PatchStrategy.ServerSideApply,
    );
  }
}
