import type { EndpointModel, ServiceModel, SubsetModel } from "./model.js";

/** The endpoints of a Service that belong to a subset: those whose labels include all of the subset's. */
export function subsetEndpoints(
  service: ServiceModel,
  subset: SubsetModel | undefined,
): readonly EndpointModel[] {
  if (!subset) return service.endpoints;
  const wanted = Object.entries(subset.labels);
  return service.endpoints.filter((e) => wanted.every(([k, v]) => e.labels[k] === v));
}
