import type { EnvoyResource } from "../../../src/xds/translate/resource.js";
import type { MeshResources } from "../../../src/xds/translate/translate.js";

/**
 * The translation with some resources replaced by new versions of
 * themselves, in whichever groups hold them, as a translation of the changed
 * cluster would have them. The churn benchmark (B3) publishes this to
 * MeshSnapshots, the way the pipeline publishes each translation, and checks
 * it against a real translation of the changed cluster (churn-changes.ts).
 * A resource that no group holds is an error: B3 only changes resources.
 */
export function withReplaced(resources: MeshResources, changed: readonly EnvoyResource[]): MeshResources {
  const key = (r: EnvoyResource) => `${r.typeUrl}\0${r.name}`;
  const replacements = new Map(changed.map((r) => [key(r), r]));
  const found = new Set<string>();
  const replace = (group: readonly EnvoyResource[]): EnvoyResource[] =>
    group.map((r) => {
      const next = replacements.get(key(r));
      if (!next) return r;
      found.add(key(r));
      return next;
    });
  const result: MeshResources = {
    ...resources,
    shared: replace(resources.shared),
    proxyless: replace(resources.proxyless),
    proxylessMtls: replace(resources.proxylessMtls),
    sidecar: replace(resources.sidecar),
    inbound: new Map([...resources.inbound].map(([workload, group]) => [workload, replace(group)])),
  };
  const missing = [...replacements.keys()].filter((k) => !found.has(k));
  if (missing.length > 0) throw new Error(`no group holds ${missing.join(", ").replaceAll("\0", " ")}`);
  return result;
}
