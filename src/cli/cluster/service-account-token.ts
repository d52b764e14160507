import { ApiException, CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { ClusterAccessError } from "./kubeconfig.js";
import { describeReadError } from "./read.js";

/**
 * A short-lived token of a ServiceAccount for one audience, by the
 * TokenRequest API (serviceaccounts/token `create`), as `kubectl create
 * token` makes it. client-node's typed API, since kubernetes-fluent-client
 * cannot create subresources. Throws ClusterAccessError in one line.
 */
export async function requestServiceAccountToken(
  kubeConfig: KubeConfig,
  namespace: string,
  serviceAccount: string,
  audience: string,
  expirationSeconds: number,
): Promise<string> {
  const attempt = `create a token for serviceaccount ${namespace}/${serviceAccount}`;
  let token: string | undefined;
  try {
    const answer = await kubeConfig.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
      name: serviceAccount,
      namespace,
      body: { spec: { audiences: [audience], expirationSeconds } },
    });
    token = answer.status?.token;
  } catch (error) {
    throw new ClusterAccessError(describeReadError(asFailedFetch(error), attempt));
  }
  if (!token) throw new ClusterAccessError(`cannot ${attempt}: the API server returned no token`);
  return token;
}

/** client-node's errors in the shape describeReadError reads (fluent-client's): an HTTP status with the Status body, or no answer. */
function asFailedFetch(error: unknown): unknown {
  if (error instanceof ApiException) {
    const body: unknown = error.body;
    let data: unknown = body;
    if (typeof body === "string")
      try {
        data = JSON.parse(body);
      } catch {
        data = { message: body };
      }
    return { status: error.code, data };
  }
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === "string")
    return { status: 0, e: { cause: { code }, message: (error as Error).message } };
  return error;
}
