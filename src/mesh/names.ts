/**
 * The well-known names of what the Mesh reconciler generates, which other
 * processes find by name: the xDS server reads the CA Secrets, the injector
 * mounts the ConfigMaps, sidecars dial the xDS Service. Deterministic, so a
 * restart finds its own objects.
 */
export const XDS_NAME = "skiff-xds";
export const XDS_GRPC_PORT = 15010;
/** Pod labels that select the xDS server (its Deployment's selector, so stable across upgrades; `skiff proxy-status` finds the replicas by them). */
export const XDS_POD_LABELS = {
  "app.kubernetes.io/name": XDS_NAME,
  "app.kubernetes.io/component": "xds",
} as const;
export const XDS_MONITORING_PORT = 15014;
/** The name of the xDS Service's (and container's) gRPC port: replicas find each other's by it. */
export const XDS_GRPC_PORT_NAME = "grpc-xds";
/** Where an xDS replica's projected token (audience skiff) is mounted: it asks the other replicas with it. */
export const XDS_TOKEN_FILE = "/var/run/secrets/skiff/tokens/token";
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

/** The address sidecars' agents dial: the xDS Service in the Mesh's root namespace. */
export function xdsServiceAddress(rootNamespace: string): string {
  return `${XDS_NAME}.${rootNamespace}.svc:${XDS_GRPC_PORT}`;
}

/**
 * The sidecar image of a Skiff release: skiff agent and the pinned Envoy,
 * built by the Dockerfile's `proxy` target next to the Skiff image
 * (`<repository>-proxy`, same tag), so operator and sidecars come from
 * one release.
 */
export function proxyImageOf(skiffImage: string): string {
  const digest = skiffImage.indexOf("@");
  const reference = digest === -1 ? skiffImage : skiffImage.slice(0, digest);
  const slash = reference.lastIndexOf("/");
  const colon = reference.indexOf(":", slash + 1);
  const repository = colon === -1 ? reference : reference.slice(0, colon);
  const tag = colon === -1 ? "" : reference.slice(colon);
  // A digest names the Skiff image's content, not the proxy's: keep the tag only.
  return `${repository}-proxy${tag}`;
}
