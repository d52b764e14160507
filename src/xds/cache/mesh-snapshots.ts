import { everyResource, type MeshResources } from "../translate/translate.js";
import type { EnvoyResource } from "../translate/resource.js";
import { proxyIdentity, type ProxyIdentity } from "../node.js";
import type { EgressScope } from "../translate/egress-scopes.js";
import { EncodedResourceCache } from "./encoded-resources.js";
import type { EncodedResource, ProxyNode, Snapshot, SnapshotSource, WorkloadIdentity } from "./snapshot.js";

/**
 * The pipeline's latest translation, as per-proxy snapshots. Proxies that see
 * the same resources (same kind, workload, certificate provider and
 * verified identity) share one Snapshot object per generation, and all snapshots
 * share the encoded buffers.
 */
export class MeshSnapshots implements SnapshotSource {
  private readonly cache = new EncodedResourceCache();
  private readonly listeners = new Set<(generation: number) => void>();
  private generation = 0;
  private encoded = new Map<EnvoyResource, EncodedResource>();
  /** The resources each per-type map of snapshotOf was made from, in order. */
  private readonly mapInputs = new WeakMap<ReadonlyMap<string, EncodedResource>, readonly EnvoyResource[]>();
  /** What encode() last did, which publishing that translation need not do again. */
  private lastEncoded:
    | {
        resources: MeshResources;
        secrets: ReadonlyMap<string, readonly EnvoyResource[]>;
        encoded: Map<EnvoyResource, EncodedResource>;
      }
    | undefined;
  private resources: MeshResources = {
    shared: [],
    proxyless: [],
    proxylessMtls: [],
    sidecar: [],
    inbound: new Map(),
  };
  private views = new Map<string, Snapshot>();
  /** The previous generation's views, whose per-type maps a new view reuses where nothing changed. */
  private previousViews = new Map<string, Snapshot>();
  /**
   * What every proxy of a kind, certificates and egress scope gets before
   * its own inbound resources and Secrets: views share its per-type maps
   * (those of types their own resources leave alone), so a type's map costs
   * memory per distinct scope, not per proxy.
   */
  private bases = new Map<string, Snapshot>();
  private previousBases = new Map<string, Snapshot>();
  /**
   * SDS Secrets per verified identity (namespace/serviceAccount): ROOTCA and
   * skiff-issuer, never a private key. Replaced, never changed in place.
   */
  private secrets: ReadonlyMap<string, readonly EnvoyResource[]> = new Map();

  get currentGeneration(): number {
    return this.generation;
  }

  /**
   * Publishes a new translation and tells every subscriber; returns its
   * generation. A translation with a resource that cannot be encoded throws
   * and changes nothing: proxies keep the previous generation.
   */
  publish(resources: MeshResources): number {
    return this.republish(resources, this.secrets);
  }

  /** Publishes an identity's SDS Secrets, for the proxies that proved that identity. */
  publishSecrets(identity: WorkloadIdentity, resources: readonly EnvoyResource[]): number {
    const secrets = new Map(this.secrets).set(`${identity.namespace}/${identity.serviceAccount}`, resources);
    return this.republish(this.resources, secrets);
  }

  /** Withdraws an identity's SDS Secrets (no proxy proves that identity any more). */
  withdrawSecrets(identity: WorkloadIdentity): number | undefined {
    const key = `${identity.namespace}/${identity.serviceAccount}`;
    if (!this.secrets.has(key)) return undefined;
    const secrets = new Map(this.secrets);
    secrets.delete(key);
    return this.republish(this.resources, secrets);
  }

  /**
   * Encodes a translation without publishing it (its encodings are kept for
   * when it is published); throws, naming the resource, if one cannot be
   * encoded.
   */
  encode(resources: MeshResources): void {
    const encoded = this.cache.encodeGeneration(allResources(resources, this.secrets));
    this.lastEncoded = { resources, secrets: this.secrets, encoded };
  }

  private republish(
    resources: MeshResources,
    secrets: ReadonlyMap<string, readonly EnvoyResource[]>,
  ): number {
    // Encode first: if it throws, the published state is untouched. The pipeline encodes before it publishes.
    const last = this.lastEncoded;
    this.lastEncoded = undefined;
    this.encoded =
      last?.resources === resources && last.secrets === secrets
        ? last.encoded
        : this.cache.encodeGeneration(allResources(resources, secrets));
    this.resources = resources;
    this.secrets = secrets;
    // Views are made on demand: a generation no proxy asked for leaves the older ones to compare with.
    if (this.views.size > 0) this.previousViews = this.views;
    this.views = new Map();
    if (this.bases.size > 0) this.previousBases = this.bases;
    this.bases = new Map();
    this.generation += 1;
    for (const listener of this.listeners) listener(this.generation);
    return this.generation;
  }

  snapshotFor(node: ProxyNode): Snapshot {
    const identity = proxyIdentity(node);
    // Only a verified identity (from the proxy's token) gets its Secrets; the node's claims never do.
    const verified = node.identity ? `${node.identity.namespace}/${node.identity.serviceAccount}` : "";
    // Only a workload with inbound resources of its own needs a view of its own: nodes naming any other
    // Pod share one (the benchmark's proxies all did build their own, at ~100 KiB each).
    const workload =
      identity.workload !== undefined && this.resources.inbound.has(identity.workload)
        ? identity.workload
        : "";
    // A sidecar whose workload has an egress scope gets only the Services in it (proxyless clients ask by name).
    const scope =
      identity.kind === "sidecar" && workload ? this.resources.egress?.byWorkload.get(workload) : undefined;
    const baseKey = `${identity.kind} ${identity.certificates} ${scope?.key ?? "*/*"}`;
    const key = `${baseKey} ${workload} ${verified}`;
    let view = this.views.get(key);
    if (!view) {
      const inbound = workload ? (this.resources.inbound.get(workload) ?? []) : [];
      const secrets = verified ? (this.secrets.get(verified) ?? []) : [];
      view = this.withOwn(this.baseFor(baseKey, identity, scope), [...inbound, ...secrets], key);
      this.views.set(key, view);
    }
    return view;
  }

  /** The outbound part of a view: the shared resources and the kind's own, within the egress scope. */
  private baseFor(baseKey: string, identity: ProxyIdentity, scope: EgressScope | undefined): Snapshot {
    let base = this.bases.get(baseKey);
    if (!base) {
      const own =
        identity.kind === "proxyless"
          ? [...this.resources.proxyless, ...(identity.certificates ? this.resources.proxylessMtls : [])]
          : this.resources.sidecar;
      // Later entries replace earlier ones of the same name: proxylessMtls overrides shared clusters.
      let resources = [...this.resources.shared, ...own];
      const serviceNames = this.resources.egress?.serviceNames;
      if (scope && serviceNames)
        resources = resources.filter((r) => !serviceNames.has(r.name) || scope.names.has(r.name));
      base = this.snapshotOf(resources, this.previousBases.get(baseKey));
      this.bases.set(baseKey, base);
    }
    return base;
  }

  /**
   * A base with a proxy's own resources (inbound, Secrets) over it. Only the
   * types they touch get maps of their own; those keep the previous view's
   * map where nothing changed, as snapshotOf does.
   */
  private withOwn(base: Snapshot, own: readonly EnvoyResource[], key: string): Snapshot {
    if (own.length === 0) return base;
    const byType = new Map(base.resources);
    const touched = new Map<string, Map<string, EncodedResource>>();
    for (const resource of own) {
      let ofType = touched.get(resource.typeUrl);
      if (!ofType) {
        ofType = new Map(base.resources.get(resource.typeUrl));
        touched.set(resource.typeUrl, ofType);
        byType.set(resource.typeUrl, ofType);
      }
      ofType.set(resource.name, this.encoded.get(resource)!);
    }
    const previous = this.previousViews.get(key);
    for (const [typeUrl, ofType] of touched) {
      const before = previous?.resources.get(typeUrl);
      if (before && sameResources(before, ofType)) byType.set(typeUrl, before);
    }
    return { generation: this.generation, resources: byType };
  }

  subscribe(listener: (generation: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * A view of these resources. A type whose resources are all the same
   * encoded objects as in `previous` keeps the previous map object, so the
   * server, which memoises per map (selections, versions, what a delta
   * proxy is in line with), does nothing for a type the change left alone.
   */
  private snapshotOf(resources: readonly EnvoyResource[], previous: Snapshot | undefined): Snapshot {
    const inputsByType = new Map<string, EnvoyResource[]>();
    for (const resource of resources) {
      const ofType = inputsByType.get(resource.typeUrl);
      if (ofType) ofType.push(resource);
      else inputsByType.set(resource.typeUrl, [resource]);
    }
    const byType = new Map<string, ReadonlyMap<string, EncodedResource>>();
    for (const [typeUrl, inputs] of inputsByType) {
      const before = previous?.resources.get(typeUrl);
      // The same resource objects as before give the same map: a change to one Service does not rebuild every type's.
      const beforeInputs = before && this.mapInputs.get(before);
      if (before && beforeInputs && sameObjects(beforeInputs, inputs)) {
        byType.set(typeUrl, before);
        continue;
      }
      const ofType = new Map<string, EncodedResource>();
      for (const resource of inputs) ofType.set(resource.name, this.encoded.get(resource)!);
      const kept = before && sameResources(before, ofType) ? before : ofType;
      this.mapInputs.set(kept, inputs);
      byType.set(typeUrl, kept);
    }
    return { generation: this.generation, resources: byType };
  }
}

function allResources(
  resources: MeshResources,
  secrets: ReadonlyMap<string, readonly EnvoyResource[]>,
): EnvoyResource[] {
  return [...everyResource(resources), ...[...secrets.values()].flat()];
}

function sameResources(
  a: ReadonlyMap<string, EncodedResource>,
  b: ReadonlyMap<string, EncodedResource>,
): boolean {
  if (a.size !== b.size) return false;
  for (const [name, resource] of a) if (b.get(name) !== resource) return false;
  return true;
}

function sameObjects<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
