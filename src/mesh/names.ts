/**
 * The well-known names of what the Mesh reconciler generates, which other
 * processes find by name: the xDS server reads the CA Secrets, the injector
 * mounts the ConfigMaps, sidecars dial the xDS Service. Deterministic, so a
 * restart finds its own objects.
 */
export const XDS_NAME = "skiff-xds";
export const XDS_GRPC_PORT = 15010;
export const XDS_MONITORING_PORT = 15014;
export const CA_SECRET = "skiff-ca";
/** The Secret cert-manager writes the mesh's intermediate CA to, when the Mesh uses cert-manager. */
export const CERT_MANAGER_SECRET = "skiff-ca-intermediate";
export const TRUST_BUNDLE_CONFIGMAP = "skiff-trust-bundle";
export const BOOTSTRAP_CONFIGMAP = "skiff-envoy-bootstrap";

/**
 * The names proxies may dial the xDS Service by, which its TLS certificate
 * carries: short and fully qualified, as Kubernetes DNS answers them.
 */
export function xdsServerNames(namespace: string, clusterDomain: string): string[] {
  const service = `${XDS_NAME}.${namespace}.svc`;
  return [service, `${service}.${clusterDomain}`, `${XDS_NAME}.${namespace}`, XDS_NAME];
}
