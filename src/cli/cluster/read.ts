import type { KubernetesObject } from "@kubernetes/client-node";
import { GenericKind, K8s } from "kubernetes-fluent-client";
import { ClusterAccessError } from "./kubeconfig.js";
import { retryingTooManyRequests } from "./retry.js";

/** A kind the CLI reads, and where the API serves it. */
export interface ReadableKind {
  /** "" for the core group. */
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  /** The resource, e.g. "trafficpolicies". */
  readonly plural: string;
}

/**
 * Lists every object of a kind, in one namespace or (without one) in all of
 * them, through kubernetes-fluent-client with the kubeconfig useKubeconfig
 * chose. Throws ClusterAccessError with one line saying what went wrong.
 */
export async function listObjects(kind: ReadableKind, namespace?: string): Promise<KubernetesObject[]> {
  try {
    const list = await retryingTooManyRequests(() => fluent(kind, namespace).Get());
    return list.items.map((item) => ({ ...item, apiVersion: apiVersionOf(kind), kind: kind.kind }));
  } catch (error) {
    throw new ClusterAccessError(describeReadError(error, `list ${resourceName(kind)}`));
  }
}

/** One object by name, or undefined when there is none. */
export async function getObject(
  kind: ReadableKind,
  name: string,
  namespace?: string,
): Promise<KubernetesObject | undefined> {
  try {
    return await retryingTooManyRequests(() => fluent(kind, namespace).Get(name));
  } catch (error) {
    if (statusOf(error) === 404 && isObjectNotFound(error)) return undefined;
    throw new ClusterAccessError(describeReadError(error, `get ${resourceName(kind)} ${name}`));
  }
}

function fluent(kind: ReadableKind, namespace: string | undefined) {
  const client = K8s(GenericKind, {
    kindOverride: { group: kind.group, version: kind.version, kind: kind.kind, plural: kind.plural },
  });
  return namespace === undefined ? client : client.InNamespace(namespace);
}

function apiVersionOf(kind: ReadableKind): string {
  return kind.group ? `${kind.group}/${kind.version}` : kind.version;
}

/** "meshes.skiff.dev", "pods": the name kubectl and RBAC use. */
export function resourceName(kind: ReadableKind): string {
  return kind.group ? `${kind.plural}.${kind.group}` : kind.plural;
}

/** What fluent-client throws for an answer that is not 2xx, or for no answer at all. */
interface FailedFetch {
  status?: number;
  statusText?: string;
  data?: unknown;
  e?: { message?: string; cause?: { code?: string; message?: string } };
}

function statusOf(error: unknown): number | undefined {
  return typeof error === "object" && error !== null ? (error as FailedFetch).status : undefined;
}

/** A 404 about the object (the API server's Status names it), not about the resource type being unknown. */
function isObjectNotFound(error: unknown): boolean {
  const data = (error as FailedFetch).data;
  return (
    typeof data === "object" &&
    data !== null &&
    (data as { reason?: string }).reason === "NotFound" &&
    Boolean((data as { details?: { name?: string } }).details?.name)
  );
}

/** One line for a failed read: no answer, refused credentials, no permission, or a type the cluster does not serve. */
export function describeReadError(error: unknown, attempt: string): string {
  if (error instanceof ClusterAccessError) return error.message;
  if (typeof error !== "object" || error === null || !("status" in error))
    return `cannot ${attempt}: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`;
  const failed = error as FailedFetch;
  if (failed.e) {
    const cause = failed.e.cause?.code ?? failed.e.cause?.message ?? failed.e.message ?? "no answer";
    return `cannot reach the cluster's API server to ${attempt}: ${cause}`;
  }
  const message = apiMessage(failed.data);
  switch (failed.status) {
    case 401:
      return `the API server refused the kubeconfig's credentials (401 Unauthorized) to ${attempt}`;
    case 403:
      return message ?? `not allowed to ${attempt} (403 Forbidden)`;
    case 404:
      return `cannot ${attempt}: the cluster does not serve it (404 Not Found)${attempt.includes(".skiff.dev") ? "; are Skiff's CRDs installed?" : ""}`;
    default:
      return `cannot ${attempt}: ${failed.status} ${message ?? failed.statusText ?? ""}`.trim();
  }
}

function apiMessage(data: unknown): string | undefined {
  if (typeof data !== "object" || data === null) return undefined;
  const message = (data as { message?: unknown }).message;
  return typeof message === "string" && message ? message : undefined;
}
