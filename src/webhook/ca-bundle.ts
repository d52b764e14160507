import { apiPath, KubernetesApiError, type RestClient } from "../k8s/rest.js";
import type { LabelSelector } from "../k8s/selector.js";

export const INJECTOR_CONFIGURATION = "skiff-sidecar-injector";
export const VALIDATION_CONFIGURATION = "skiff-validation";

interface WebhookConfiguration {
  metadata: { resourceVersion?: string };
  webhooks?: { name: string; clientConfig?: { caBundle?: string }; namespaceSelector?: LabelSelector }[];
}

/**
 * Points the webhook configurations at our CA, and the injector at the
 * namespaces the Mesh selects. It patches only those fields, with a JSON
 * patch guarded by a test of each webhook's name, so a concurrent edit of the
 * list fails (and is retried) instead of patching the wrong entry. A missing
 * configuration is not an error: it is not installed yet.
 */
export async function patchWebhookConfigurations(
  rest: RestClient,
  caBundlePem: string,
  injectionSelector: LabelSelector | undefined,
): Promise<{ patched: string[]; missing: string[] }> {
  const caBundle = Buffer.from(caBundlePem, "utf8").toString("base64");
  const patched: string[] = [];
  const missing: string[] = [];
  for (const [kind, name] of [
    ["mutatingwebhookconfigurations", INJECTOR_CONFIGURATION],
    ["validatingwebhookconfigurations", VALIDATION_CONFIGURATION],
  ] as const) {
    const path = apiPath`/apis/admissionregistration.k8s.io/v1/${kind}/${name}`;
    const config = await rest.getIfExists<WebhookConfiguration>(path);
    if (!config) {
      missing.push(name);
      continue;
    }
    const ops = (config.webhooks ?? []).flatMap((webhook, i) => {
      const changes: object[] = [];
      if (webhook.clientConfig?.caBundle !== caBundle)
        changes.push({ op: "add", path: `/webhooks/${i}/clientConfig/caBundle`, value: caBundle });
      if (
        kind === "mutatingwebhookconfigurations" &&
        injectionSelector &&
        JSON.stringify(webhook.namespaceSelector ?? {}) !== JSON.stringify(injectionSelector)
      )
        changes.push({ op: "add", path: `/webhooks/${i}/namespaceSelector`, value: injectionSelector });
      return changes.length > 0
        ? [{ op: "test", path: `/webhooks/${i}/name`, value: webhook.name }, ...changes]
        : [];
    });
    if (ops.length === 0) continue;
    try {
      await rest.request("PATCH", path, { body: ops, contentType: "application/json-patch+json" });
      patched.push(name);
    } catch (error) {
      // 422 from a failed test op: the list changed under us; the next pass retries.
      if (error instanceof KubernetesApiError && error.statusCode === 404) missing.push(name);
      else throw error;
    }
  }
  return { patched, missing };
}
