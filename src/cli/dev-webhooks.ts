import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import { join } from "node:path";
import { repositoryRoot } from "../controlplane/binaries.js";
import { readManifests } from "../k8s/manifests.js";
import { ServerSideApplier } from "../k8s/apply.js";

interface WebhookConfiguration extends KubernetesObject {
  webhooks: { clientConfig: { service?: unknown; url?: string; caBundle?: string } }[];
}

/**
 * Installs config/webhook's two webhook configurations against a webhook
 * that runs in this process: the same rules, pointed at
 * https://127.0.0.1:<port> instead of the in-cluster Service, and trusting
 * the operator's webhook CA. The local API server then really calls the
 * webhooks, as a cluster's would.
 */
export async function installLocalWebhooks(
  kubeConfig: KubeConfig,
  port: number,
  caBundlePem: string,
): Promise<void> {
  const manifests = (await readManifests(join(repositoryRoot(), "config", "webhook"))).filter((m) =>
    m.kind?.endsWith("WebhookConfiguration"),
  ) as WebhookConfiguration[];
  const applier = new ServerSideApplier(kubeConfig, "skiff/dev");
  for (const configuration of manifests) {
    for (const webhook of configuration.webhooks) {
      const path = (webhook.clientConfig.service as { path?: string } | undefined)?.path ?? "/";
      webhook.clientConfig = {
        url: `https://127.0.0.1:${port}${path}`,
        caBundle: Buffer.from(caBundlePem).toString("base64"),
      };
    }
    await applier.apply(configuration, { force: true });
  }
}
