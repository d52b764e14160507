import type { KubernetesObject } from "@kubernetes/client-node";
import type { ServerSideApplier } from "./apply.js";
import { canonicalJson } from "./canonical.js";
import { containsFields } from "./fields.js";

const identity = (o: KubernetesObject) =>
  `${o.apiVersion}/${o.kind}/${o.metadata?.namespace ?? ""}/${o.metadata?.name ?? ""}`;

/**
 * Server-side apply that skips a write for nothing: an object is applied
 * unless both
 * - this process last applied exactly the same object (so no field it used
 *   to set, and would now drop, is left behind: an apply that omits a field
 *   removes it, a comparison with the stored object cannot see that), and
 * - the stored object, as a cache last saw it, still has every field the
 *   apply sets (nobody changed or deleted it since).
 * Anything else applies: a new process applies everything once, a cache that
 * lags behind our own write applies again (the same apply, harmless), and
 * drift is put back. A failed apply forgets the object, so it is tried again.
 */
export class ApplyIfChanged {
  private readonly lastApplied = new Map<string, string>();

  constructor(private readonly applier: ServerSideApplier) {}

  /** Applies `desired` unless `stored` (the cached object, undefined if none) already has it; true when it wrote. */
  async apply(desired: KubernetesObject, stored: KubernetesObject | undefined): Promise<boolean> {
    const key = identity(desired);
    const body = canonicalJson(desired);
    if (this.lastApplied.get(key) === body && stored && containsFields(stored, desired)) return false;
    this.lastApplied.delete(key);
    await this.applier.apply(desired);
    this.lastApplied.set(key, body);
    return true;
  }

  /** Forgets a deleted object, so that what is remembered does not grow with every object ever applied. */
  forget(object: KubernetesObject): void {
    this.lastApplied.delete(identity(object));
  }
}
