import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import { RestClient } from "./rest.js";

/**
 * Server-side apply with our own field manager.
 * - kubernetes-fluent-client's Apply hard-codes the manager `pepr`; here each
 *   controller names its own (skiff/mesh, skiff/trafficpolicy, ...), so the
 *   ownership of every field stays attributable.
 * - fieldValidation=Strict: an unknown or duplicated field is an error, never
 *   silently dropped.
 * - `force` (the default) takes over fields another manager set, which is what
 *   a controller wants for the fields it declares.
 */
export class ServerSideApplier {
  private readonly rest: RestClient;

  constructor(
    kubeConfig: KubeConfig,
    readonly fieldManager: string,
  ) {
    this.rest = new RestClient(kubeConfig);
  }

  async apply<T extends KubernetesObject>(
    object: T,
    options: { force?: boolean; subresource?: "status" } = {},
  ): Promise<T> {
    const path = (await this.rest.pathOf(object)) + (options.subresource ? `/${options.subresource}` : "");
    return this.rest.request<T>("PATCH", path, {
      body: object,
      contentType: "application/apply-patch+yaml",
      query: {
        fieldManager: this.fieldManager,
        fieldValidation: "Strict",
        force: String(options.force ?? true),
      },
    });
  }
}
