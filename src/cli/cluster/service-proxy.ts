import { GenericKind, K8s } from "kubernetes-fluent-client";

/** What came back through the API server's proxy to a Service. */
export type ProxiedAnswer =
  | { readonly kind: "answered"; readonly status: number; readonly body: string }
  /** The API server did not get an answer from the Service (no route to Pods, no endpoints), or refused to proxy. */
  | { readonly kind: "not-proxied"; readonly status?: number; readonly message: string };

interface FailedFetch {
  status?: number;
  data?: unknown;
  e?: { message?: string; cause?: { code?: string } };
}

/**
 * GET a path of a Service's port through the API server's service proxy
 * (`kubectl get --raw /api/v1/namespaces/<ns>/services/<name>:<port>/proxy/<path>`),
 * with kubernetes-fluent-client: the way to reach a ClusterIP Service from
 * outside the cluster. An answer from the Service itself (whatever its
 * status) is told apart from the API server's own refusal, which comes as a
 * Status object.
 */
export async function getThroughServiceProxy(
  namespace: string,
  service: string,
  port: string,
  path: string,
): Promise<ProxiedAnswer> {
  const url = `/api/v1/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(`${service}:${port}`)}/proxy/${path.replace(/^\//, "")}`;
  try {
    const body = await K8s(GenericKind).Raw(url);
    return { kind: "answered", status: 200, body: String(body) };
  } catch (error) {
    const failed = error as FailedFetch;
    if (failed.e)
      return { kind: "not-proxied", message: failed.e.cause?.code ?? failed.e.message ?? "no answer" };
    if (typeof failed.data === "string")
      return { kind: "answered", status: failed.status ?? 0, body: failed.data };
    const message = (failed.data as { message?: string } | undefined)?.message ?? `HTTP ${failed.status}`;
    return { kind: "not-proxied", ...(failed.status ? { status: failed.status } : {}), message };
  }
}
