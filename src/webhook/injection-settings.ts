import type { IPod } from "kubernetes-models/v1";
import type { Mesh } from "../api/v1alpha1/generated/mesh.js";
import { proxyResourcesIssues } from "../controllers/mesh/issues.js";
import { sidecarArgs, type ProxyLogLevel } from "../inject/bootstrap.js";
import { iptablesArgs, interceptionOptions } from "../inject/interception.js";
import { proxyConfigOverrides } from "../inject/proxy-config.js";
import { DEFAULT_PROMETHEUS_PORT } from "../mesh/proxy.js";
import type { SidecarSettings } from "../inject/sidecar.js";
import {
  BOOTSTRAP_CONFIGMAP,
  TRUST_BUNDLE_CONFIGMAP,
  proxyImageOf,
  xdsServiceAddress,
} from "../mesh/names.js";
import { meshIdentity } from "../mesh/defaults.js";
import { EGRESS_HOSTS_ANNOTATION } from "../mesh/annotations.js";
import { parseEgressHosts } from "../mesh/egress-hosts.js";

/**
 * A Pod's sidecar settings from the Mesh (its defaults are filled in by the
 * API server) and the Pod's annotations, with warnings for the Pod's
 * creator. Pure. Throws, naming the annotation, when an annotation is
 * malformed: the injector rejects such a Pod rather than intercept more
 * traffic than the user asked.
 *
 * Sidecar resources that the validating webhook would refuse (the Mesh got
 * in while it was down) are left out, all of them, with a warning: the Mesh
 * reports them, and the reconciler keeps the namespaces' bootstraps as they
 * were, so the sidecar runs as it would without them rather than every Pod
 * of the mesh being refused, or made unschedulable by a wrong request.
 */
export function injectionSettings(
  mesh: Mesh,
  pod: IPod,
  skiffImage: string,
): { settings: SidecarSettings; warnings: string[] } {
  const proxy = mesh.spec?.injection?.proxy;
  const interception = interceptionOptions(mesh.spec, pod.metadata?.annotations);
  const resourceIssues = proxy?.resources ? proxyResourcesIssues(mesh) : [];
  const resources = resourceIssues.length === 0 ? proxy?.resources : undefined;
  const overrides = proxyConfigOverrides(pod.metadata?.annotations);
  refuseMalformedEgressHosts(pod.metadata?.annotations);
  return {
    settings: {
      proxyImage: proxy?.image ?? proxyImageOf(skiffImage),
      xdsAddress: xdsServiceAddress(meshIdentity(mesh).rootNamespace),
      ...(resources ? { proxyResources: resources as SidecarSettings["proxyResources"] } : {}),
      proxyArgs: sidecarArgs({
        ...(proxy?.logLevel ? { logLevel: proxy.logLevel as ProxyLogLevel } : {}),
        ...(proxy?.concurrency !== undefined ? { concurrency: proxy.concurrency } : {}),
      }),
      initImage: skiffImage,
      initArgs: iptablesArgs(interception),
      bootstrapConfigMap: BOOTSTRAP_CONFIGMAP,
      trustBundleConfigMap: TRUST_BUNDLE_CONFIGMAP,
      prometheusPort: mesh.spec?.observability?.metrics?.prometheusPort ?? DEFAULT_PROMETHEUS_PORT,
      ...(overrides.env.length > 0 ? { proxyEnv: overrides.env } : {}),
    },
    warnings: [
      ...resourceIssues.map(
        (i) => `the sidecar gets no resources: Mesh ${mesh.metadata?.name ?? ""} ${i.field}: ${i.message}`,
      ),
      ...overrides.warnings,
    ],
  };
}

/** Throws, naming the annotation, when sidecar.skiff.dev/egressHosts is malformed. */
function refuseMalformedEgressHosts(annotations: Record<string, string> | undefined): void {
  const value = annotations?.[EGRESS_HOSTS_ANNOTATION];
  if (value === undefined) return;
  try {
    parseEgressHosts(value);
  } catch (error) {
    throw new Error(`annotation ${EGRESS_HOSTS_ANNOTATION}: ${(error as Error).message}`);
  }
}
