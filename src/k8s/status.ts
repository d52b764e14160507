import type { KubernetesObject } from "@kubernetes/client-node";
import type { ServerSideApplier } from "./apply.js";
import { canonicalJson } from "./canonical.js";
import { sameConditions, type Condition } from "./conditions.js";

/** A status as controllers write it: conditions, and whatever else the kind has. */
export type StatusBody = { readonly conditions?: readonly Condition[] } & object;

/** Whether `next` says anything `current` does not: its conditions, or any other field. */
export function statusChanged(current: StatusBody | undefined, next: StatusBody): boolean {
  return !(
    sameConditions(current?.conditions, next.conditions) &&
    canonicalJson({ ...current, conditions: undefined }) === canonicalJson({ ...next, conditions: undefined })
  );
}

/**
 * Writes an object's status subresource by server-side apply, only when it
 * changed: an unchanged status costs the API server nothing, and a write for
 * nothing would wake every watcher. True when it wrote.
 */
export async function applyStatusIfChanged(
  applier: ServerSideApplier,
  object: {
    readonly apiVersion: string;
    readonly kind: string;
    readonly metadata: { readonly name: string; readonly namespace?: string };
    readonly status?: StatusBody;
  },
  status: StatusBody,
): Promise<boolean> {
  if (!statusChanged(object.status, status)) return false;
  const { name, namespace } = object.metadata;
  await applier.apply(
    {
      apiVersion: object.apiVersion,
      kind: object.kind,
      metadata: namespace === undefined ? { name } : { name, namespace },
      status,
    } as KubernetesObject,
    { subresource: "status" },
  );
  return true;
}
