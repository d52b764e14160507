import type { MeshModel, ServiceModel, WorkloadModel } from "../../ir/model.js";
import type { EnvoyResource } from "./resource.js";

/** One Service's resources, by audience (see MeshResources). */
export interface ServiceResources {
  readonly shared: readonly EnvoyResource[];
  readonly proxyless: readonly EnvoyResource[];
  readonly proxylessMtls: readonly EnvoyResource[];
  readonly sidecar: readonly EnvoyResource[];
}

interface InboundEntry {
  /** The Services that list the workload, in the model's order: all its inbound side reads of them. */
  readonly services: readonly ServiceModel[];
  readonly resources: readonly EnvoyResource[];
}

/**
 * Translations kept from one run to the next, by model object. Compile
 * returns the very same ServiceModel and WorkloadModel objects for what a
 * change left alone (CompileCache), so translate hands back the very same
 * EnvoyResource objects, which the encoder and the snapshots recognise by
 * identity: an endpoint change costs the translation of one Service.
 *
 * - A Service's resources read the Service and the mesh-wide settings (trust
 *   domain, telemetry); a workload's inbound side reads the workload, those
 *   settings and the Services that list it. A change of the settings
 *   forgets everything.
 * - Entries are held weakly: a model object no run returns any more goes.
 */
export class TranslateMemo {
  private settings: string | undefined;
  private services = new WeakMap<ServiceModel, ServiceResources>();
  private inbound = new WeakMap<WorkloadModel, InboundEntry>();
  /** Resources that depend on nothing: virtualOutbound, the passthrough clusters. */
  private readonly fixed = new Map<string, readonly EnvoyResource[]>();
  /** Not settings-dependent: kept for as long as the Service's model lives. */
  private readonly listed = new WeakMap<ServiceModel, readonly string[]>();

  /** Starts a translation of `model`. */
  begin(model: MeshModel): void {
    const settings = JSON.stringify([model.clusterDomain, model.trustDomain, model.telemetry ?? null]);
    if (settings === this.settings) return;
    this.settings = settings;
    this.services = new WeakMap();
    this.inbound = new WeakMap();
  }

  service(service: ServiceModel, translate: () => ServiceResources): ServiceResources {
    let resources = this.services.get(service);
    if (!resources) this.services.set(service, (resources = translate()));
    return resources;
  }

  /** Resources that depend on nothing, built once. */
  constant(name: string, build: () => readonly EnvoyResource[]): readonly EnvoyResource[] {
    let resources = this.fixed.get(name);
    if (!resources) this.fixed.set(name, (resources = build()));
    return resources;
  }

  /** The workloads a Service lists (see workloadsListedBy). */
  workloadsListedBy(service: ServiceModel): readonly string[] {
    let listed = this.listed.get(service);
    if (!listed) this.listed.set(service, (listed = workloadsListedBy(service)));
    return listed;
  }

  workload(
    workload: WorkloadModel,
    services: readonly ServiceModel[],
    translate: () => readonly EnvoyResource[],
  ): readonly EnvoyResource[] {
    const kept = this.inbound.get(workload);
    if (kept && sameObjects(kept.services, services)) return kept.resources;
    const resources = translate();
    this.inbound.set(workload, { services, resources });
    return resources;
  }
}

/**
 * The Services that list each workload (namespace/name) among their ready or
 * unready endpoints, in the model's order: what a workload's inbound side is
 * built from.
 */
export function servicesByWorkload(
  model: MeshModel,
  listedBy: (service: ServiceModel) => readonly string[] = workloadsListedBy,
): Map<string, ServiceModel[]> {
  const byWorkload = new Map<string, ServiceModel[]>();
  if (model.workloads.length === 0) return byWorkload;
  for (const service of model.services) {
    for (const workload of listedBy(service)) {
      const services = byWorkload.get(workload);
      if (services) services.push(service);
      else byWorkload.set(workload, [service]);
    }
  }
  return byWorkload;
}

/** The workloads (namespace/name) among a Service's ready and unready endpoints, each once. */
function workloadsListedBy(service: ServiceModel): readonly string[] {
  const listed = new Set<string>();
  for (const endpoint of [...service.endpoints, ...(service.unreadyEndpoints ?? [])])
    if (endpoint.workload !== undefined) listed.add(endpoint.workload);
  return [...listed];
}

function sameObjects<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
