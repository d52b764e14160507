import type { IPod } from "kubernetes-models/v1";
import type { Mesh } from "../api/v1alpha1/generated/mesh.js";
import { DEFAULT_PROXY_IMAGE } from "../api/v1alpha1/mesh.js";
import { BOOTSTRAP_CONFIGMAP, TRUST_BUNDLE_CONFIGMAP } from "../controllers/mesh/names.js";
import { sidecarArgs, type ProxyLogLevel } from "../inject/bootstrap.js";
import { iptablesArgs, interceptionOptions } from "../inject/interception.js";
import type { SidecarSettings } from "../inject/sidecar.js";

/**
 * A Pod's sidecar settings from the Mesh (its defaults are filled in by the
 * API server) and the Pod's annotations. Pure. Throws, naming the annotation,
 * when an annotation is malformed: the injector rejects such a Pod rather
 * than intercept more traffic than the user asked.
 */
export function injectionSettings(mesh: Mesh, pod: IPod, skiffImage: string): SidecarSettings {
  const proxy = mesh.spec?.injection?.proxy;
  const interception = interceptionOptions(mesh.spec, pod.metadata?.annotations);
  return {
    proxyImage: proxy?.image ?? DEFAULT_PROXY_IMAGE,
    ...(proxy?.resources ? { proxyResources: proxy.resources as SidecarSettings["proxyResources"] } : {}),
    proxyArgs: sidecarArgs({
      ...(proxy?.logLevel ? { logLevel: proxy.logLevel as ProxyLogLevel } : {}),
      ...(proxy?.concurrency !== undefined ? { concurrency: proxy.concurrency } : {}),
    }),
    initImage: skiffImage,
    initArgs: iptablesArgs(interception),
    bootstrapConfigMap: BOOTSTRAP_CONFIGMAP,
    trustBundleConfigMap: TRUST_BUNDLE_CONFIGMAP,
  };
}
