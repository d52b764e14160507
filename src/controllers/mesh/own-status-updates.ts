import type { KubernetesObject } from "@kubernetes/client-node";
import type { MeshStatus } from "../../api/v1alpha1/generated/mesh.js";
import { canonicalJson } from "../../k8s/canonical.js";
import type { InformerEvent } from "../../k8s/informer.js";
import { reconcilerOwnedStatus } from "./status.js";

/**
 * The Mesh reconciler's own status writes, remembered so that their echo (the
 * watch event of the write) starts no reconcile: that reconcile would read
 * what the writing one read, find the status it wrote, and write nothing.
 * Pure but for the memory.
 */
export class OwnStatusWrites {
  private readonly written = new Map<string, string>();

  /** Remembers the status the reconciler wrote (or found already in place) for the Mesh `name`. */
  record(name: string, status: MeshStatus): void {
    this.written.set(name, canonicalJson(reconcilerOwnedStatus(status)));
  }

  /**
   * Whether a Mesh event is the echo of the reconciler's last status write:
   * an update that changed nothing but status, to exactly what was written.
   * Anything else (a spec, label or annotation change, another writer's
   * status, a resync with the same resourceVersion, an add or delete) is not.
   */
  isEcho(event: InformerEvent<KubernetesObject>): boolean {
    if (event.type !== "update") return false;
    const { old, object } = event;
    if (old.metadata?.resourceVersion === object.metadata?.resourceVersion) return false;
    if (canonicalJson(withoutStatus(old)) !== canonicalJson(withoutStatus(object))) return false;
    const status = (object as { status?: MeshStatus }).status;
    return this.written.get(object.metadata?.name ?? "") === canonicalJson(reconcilerOwnedStatus(status));
  }
}

/** The object without what a status write changes: status, resourceVersion and managedFields. */
function withoutStatus(object: KubernetesObject & { status?: object }): object {
  const { resourceVersion: _version, managedFields: _managed, ...metadata } = object.metadata ?? {};
  const { status: _status, ...rest } = object;
  return { ...rest, metadata };
}
