import type { Mesh } from "../../api/v1alpha1/generated/mesh.js";
import type { ValidationIssue } from "../../api/v1alpha1/validate.js";
import { parseQuantity, quantityIn } from "../../k8s/quantity.js";
import {
  ENVOY_ADMIN_PORT,
  AGENT_HEALTH_PORT,
  HEALTH_PORT,
  INBOUND_CAPTURE_PORT,
  OUTBOUND_CAPTURE_PORT,
} from "../../mesh/proxy.js";

/**
 * What a Mesh's schema cannot check and the sidecars, their bootstrap or the
 * xDS server's Deployment cannot take, decided once, here: the validating
 * webhook refuses what meshIssues names, naming each field; the reconciler
 * reports it (and writes no bootstrap from a Mesh with sidecarIssues, nor
 * the Deployment from one with controlPlaneIssues) instead of failing; the
 * injector leaves out sidecar resources with issues.
 *
 * The compute resources a Mesh gives the sidecar (spec.injection.proxy.resources,
 * copied into every injected Pod, its memory limit also the bootstrap's heap
 * size) and the xDS server (spec.controlPlane.resources, copied into its
 * Deployment). The schema only checks that each value looks like a quantity
 * (CEL's quantity() was over the API server's cost budget), so these are
 * decided here; the bootstrap's heap size comes from proxyMemoryLimitBytes,
 * which reads the same decision.
 *
 * Each container takes cpu, memory and ephemeral-storage; neither Envoy nor
 * the xDS server has a use for anything else (hugepages, devices), and a
 * wrong extended resource would leave every injected Pod unschedulable.
 *
 * Every value is a quantity as Kubernetes reads it, in whole units (bytes;
 * millicores, Kubernetes' own resolution: it rounds 0.1m up to 1m, and
 * warns of fractional bytes), of at most Number.MAX_SAFE_INTEGER of them, so
 * that it converts exactly (Envoy's fixed_heap takes any uint64; 2^53 - 1
 * bytes is 8 PiB, past any node). A request is at most its limit, as the API
 * server requires of a Pod.
 *
 * Limits are positive: to the kubelet a limit of 0 means no limit, to the
 * bootstrap a heap of 0 bytes. Requests may be 0 (reserve nothing), as in
 * Kubernetes.
 *
 * The sidecar's memory limit is at least MIN_PROXY_MEMORY_LIMIT. Istio sets
 * no minimum; but Envoy's heap alone is about 7 MiB before any configuration
 * arrives (measured: Envoy 1.40, two workers, the sidecar bootstrap; its
 * resident set is about 65 MiB), and the overload manager stops accepting
 * requests at 98% of the limit, so a sidecar under a few times that would
 * refuse every request once its listeners and certificates arrive. 32Mi
 * still takes a deliberately small sidecar, and refuses the unit slips
 * ("1", "512", "64k") that have no place there.
 */

export const MIN_PROXY_MEMORY_LIMIT = "32Mi";
const MIN_PROXY_MEMORY_LIMIT_BYTES = 32n * 2n ** 20n;
const MAX_UNITS = BigInt(Number.MAX_SAFE_INTEGER);

export type ResourceContainer = "proxy" | "controlPlane";

const CONTAINER_NAME: Record<ResourceContainer, string> = {
  proxy: "the sidecar",
  controlPlane: "the xDS server",
};

interface Rule {
  /** Units are 10^-scale of the quantity: 0 for bytes, 3 for millicores. */
  scale: number;
  unit: string;
  example: string;
  /** The largest value, as written in a message. */
  maxText: string;
}

const RESOURCES: Record<string, Rule> = {
  cpu: { scale: 3, unit: "millicores", example: "500m", maxText: `${Number.MAX_SAFE_INTEGER}m` },
  memory: { scale: 0, unit: "bytes", example: "256Mi", maxText: `${Number.MAX_SAFE_INTEGER} (2^53 - 1)` },
  "ephemeral-storage": {
    scale: 0,
    unit: "bytes",
    example: "1Gi",
    maxText: `${Number.MAX_SAFE_INTEGER} (2^53 - 1)`,
  },
};
const SUPPORTED = "cpu, memory and ephemeral-storage";

type Kind = "limits" | "requests";

/** The smallest value, in units and as written in a message. */
function minimum(container: ResourceContainer, kind: Kind, resource: string): [bigint, string] {
  if (kind === "requests") return [0n, "0"];
  if (resource === "memory" && container === "proxy")
    return [MIN_PROXY_MEMORY_LIMIT_BYTES, MIN_PROXY_MEMORY_LIMIT];
  return resource === "cpu" ? [1n, "1m"] : [1n, "1"];
}

/** One value in its units, or what is wrong with it (the message, without the field). */
function resourceValue(
  container: ResourceContainer,
  kind: Kind,
  resource: string,
  value: unknown,
): { units: number } | { problem: string } {
  const rule = RESOURCES[resource];
  if (!rule) return { problem: `${CONTAINER_NAME[container]} takes only ${SUPPORTED}` };
  const written = JSON.stringify(value) ?? String(value);
  const quantity = parseQuantity(value);
  if (!quantity) return { problem: `must be a Kubernetes quantity such as ${rule.example}, not ${written}` };
  const [min, minText] = minimum(container, kind, resource);
  const units = quantityIn(quantity, rule.scale);
  if (typeof units !== "bigint" || units < min || units > MAX_UNITS)
    return {
      problem: `must be a whole number of ${rule.unit} from ${minText} to ${rule.maxText}, not ${written}`,
    };
  return { units: Number(units) };
}

const isMap = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** A map key in a field path: `limits.memory`, `limits[example.com/gpu]`. */
const keyPath = (key: string) => (/^[a-z][-a-z0-9]*$/.test(key) ? `.${key}` : `[${key}]`);

/** What is wrong with one container's resources (corev1.ResourceRequirements), each named by its field. */
export function resourcesIssues(
  resources: unknown,
  field: string,
  container: ResourceContainer,
): ValidationIssue[] {
  if (resources === undefined) return [];
  if (!isMap(resources)) return [{ field, message: "must be an object" }];
  const issues: ValidationIssue[] = [];
  const valid: Record<Kind, Map<string, number>> = { limits: new Map(), requests: new Map() };
  for (const kind of ["limits", "requests"] as const) {
    const values = resources[kind];
    if (values === undefined) continue;
    if (!isMap(values)) {
      issues.push({ field: `${field}.${kind}`, message: "must be a map of resource names to quantities" });
      continue;
    }
    for (const [resource, value] of Object.entries(values)) {
      const result = resourceValue(container, kind, resource, value);
      if ("problem" in result)
        issues.push({ field: `${field}.${kind}${keyPath(resource)}`, message: result.problem });
      else valid[kind].set(resource, result.units);
    }
  }
  for (const [resource, request] of valid.requests) {
    const limit = valid.limits.get(resource);
    if (limit !== undefined && request > limit) {
      const values = resources as { limits: Record<string, unknown>; requests: Record<string, unknown> };
      issues.push({
        field: `${field}.requests${keyPath(resource)}`,
        message: `must be at most limits${keyPath(resource)} (${JSON.stringify(values.limits[resource])}), not ${JSON.stringify(values.requests[resource])}`,
      });
    }
  }
  return issues;
}

export const PROXY_RESOURCES_FIELD = "spec.injection.proxy.resources";
export const CONTROL_PLANE_RESOURCES_FIELD = "spec.controlPlane.resources";

/** What is wrong with the sidecar's resources. */
export function proxyResourcesIssues(mesh: Mesh): ValidationIssue[] {
  return resourcesIssues(mesh.spec?.injection?.proxy?.resources, PROXY_RESOURCES_FIELD, "proxy");
}

/** What is wrong with the xDS server's resources. */
export function controlPlaneResourcesIssues(mesh: Mesh): ValidationIssue[] {
  return resourcesIssues(mesh.spec?.controlPlane?.resources, CONTROL_PLANE_RESOURCES_FIELD, "controlPlane");
}

/**
 * The sidecar's own ports, which the bootstrap's Prometheus listener cannot
 * share: on 15021 Envoy refused the bootstrap (a duplicate address), on the
 * capture ports every sidecar would refuse its listeners, and the admin
 * endpoint holds 15000 on 127.0.0.1, where a listener on 0.0.0.0 cannot bind.
 * The agent holds 15020 for the application's rewritten probes.
 */
const SIDECAR_PORTS: ReadonlyMap<number, string> = new Map([
  [ENVOY_ADMIN_PORT, "Envoy's admin endpoint"],
  [OUTBOUND_CAPTURE_PORT, "the outbound capture listener"],
  [INBOUND_CAPTURE_PORT, "the inbound capture listener"],
  [AGENT_HEALTH_PORT, "the agent's application health server (the rewritten probes)"],
  [HEALTH_PORT, "the health listener (the readiness probe)"],
]);

export const PROMETHEUS_PORT_FIELD = "spec.observability.metrics.prometheusPort";

/** What is wrong with the sidecar's Prometheus port. */
export function prometheusPortIssues(mesh: Mesh): ValidationIssue[] {
  const port = mesh.spec?.observability?.metrics?.prometheusPort;
  const holder = port === undefined ? undefined : SIDECAR_PORTS.get(port);
  if (!holder) return [];
  const ports = [...SIDECAR_PORTS.keys()].join(", ");
  return [
    {
      field: PROMETHEUS_PORT_FIELD,
      message: `must not be one of the sidecar's own ports (${ports}): ${port} is ${holder}`,
    },
  ];
}

/** What the sidecar template or its bootstrap cannot take from the Mesh. */
export function sidecarIssues(mesh: Mesh): ValidationIssue[] {
  return [...proxyResourcesIssues(mesh), ...prometheusPortIssues(mesh)];
}

/** What the xDS server's Deployment cannot take from the Mesh. */
export function controlPlaneIssues(mesh: Mesh): ValidationIssue[] {
  return controlPlaneResourcesIssues(mesh);
}

/** Everything above, each named by its field: what the validating webhook refuses. */
export function meshIssues(mesh: Mesh): ValidationIssue[] {
  return [...sidecarIssues(mesh), ...controlPlaneIssues(mesh)];
}

/**
 * The sidecar's memory limit in bytes, the bootstrap's heap size; undefined
 * when there is none, or when it is one that proxyResourcesIssues names (the
 * reconciler renders no bootstrap from such a Mesh).
 */
export function proxyMemoryLimitBytes(mesh: Mesh): number | undefined {
  const limits = (mesh.spec?.injection?.proxy?.resources as { limits?: unknown } | undefined)?.limits;
  if (!isMap(limits) || limits.memory === undefined) return undefined;
  const result = resourceValue("proxy", "limits", "memory", limits.memory);
  return "units" in result ? result.units : undefined;
}
