import type { Logger } from "pino";
import { apiPath, KubernetesApiError, type RestClient } from "../k8s/rest.js";
import { renewTls, tlsVerdict, type WebhookTls } from "./certificates.js";

interface Secret {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  type?: string;
  data?: Record<string, string>;
}

const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");
const unb64 = (text: string | undefined) =>
  text === undefined ? undefined : Buffer.from(text, "base64").toString("utf8");

function fromSecret(secret: Secret | undefined): WebhookTls | undefined {
  const d = secret?.data ?? {};
  const [caBundlePem, caKeyPem, certPem, keyPem] = ["ca.crt", "ca.key", "tls.crt", "tls.key"].map((k) =>
    unb64(d[k]),
  );
  if (!caBundlePem || !caKeyPem || !certPem || !keyPem) return undefined;
  return { caBundlePem, caKeyPem, certPem, keyPem };
}

/**
 * Reads the webhook's TLS Secret and renews what needs renewing. Replicas
 * race safely: a create that finds the Secret created, or an update that
 * finds it changed (409), starts over from what the winner wrote, so every
 * replica ends up serving the same certificate.
 */
export async function ensureWebhookTls(
  rest: RestClient,
  options: { namespace: string; name: string; hosts: readonly string[]; logger: Logger; now?: () => Date },
): Promise<WebhookTls> {
  const path = apiPath`/api/v1/namespaces/${options.namespace}/secrets`;
  const named = path + apiPath`/${options.name}`;
  for (let attempt = 0; attempt < 5; attempt++) {
    const now = options.now?.() ?? new Date();
    const secret = await rest.getIfExists<Secret>(named);
    const current = fromSecret(secret);
    const verdict = tlsVerdict(current, options.hosts, now);
    if (verdict === "ok") return current!;
    const next = await renewTls(current, verdict, options.hosts, now);
    const body: Secret = {
      metadata: {
        name: options.name,
        namespace: options.namespace,
        ...(secret?.metadata.resourceVersion ? { resourceVersion: secret.metadata.resourceVersion } : {}),
      },
      type: "Opaque",
      data: {
        "ca.crt": b64(next.caBundlePem),
        "ca.key": b64(next.caKeyPem),
        "tls.crt": b64(next.certPem),
        "tls.key": b64(next.keyPem),
      },
    };
    try {
      await (secret
        ? rest.request("PUT", named, {
            body: { apiVersion: "v1", kind: "Secret", ...body },
          })
        : rest.request("POST", path, { body: { apiVersion: "v1", kind: "Secret", ...body } }));
      options.logger.info({ secret: options.name, verdict }, "renewed the webhook's TLS material");
      return next;
    } catch (error) {
      if (error instanceof KubernetesApiError && (error.statusCode === 409 || error.statusCode === 404))
        continue;
      throw error;
    }
  }
  throw new Error(`the webhook TLS Secret ${options.namespace}/${options.name} kept changing under us`);
}
