/** Names of what the Mesh reconciler generates; deterministic, so a restart finds its own objects. */
export const XDS_NAME = "skiff-xds";
export const XDS_GRPC_PORT = 15010;
export const XDS_MONITORING_PORT = 15014;
export const CA_SECRET = "skiff-ca";
/** The Secret cert-manager writes the mesh's intermediate CA to, when the Mesh uses cert-manager. */
export const CERT_MANAGER_SECRET = "skiff-ca-intermediate";
export const TRUST_BUNDLE_CONFIGMAP = "skiff-trust-bundle";
export const BOOTSTRAP_CONFIGMAP = "skiff-envoy-bootstrap";
export const ENVOY_ADMIN_PORT = 15000;
export const MANAGED_BY_LABEL = "skiff.dev/managed-by";
export const MESH_FINALIZER = "skiff.dev/mesh-cleanup";
export const FIELD_MANAGER = "skiff/mesh";
