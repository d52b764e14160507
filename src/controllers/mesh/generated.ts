import { BOOTSTRAP_CONFIGMAP, TRUST_BUNDLE_CONFIGMAP, XDS_NAME } from "../../mesh/names.js";

/** A kind of object the Mesh reconciler generates, and the one name it gives such objects. */
export interface GeneratedObject {
  apiVersion: string;
  kind: string;
  name: string;
}

const RBAC = "rbac.authorization.k8s.io/v1";

/**
 * Every object the Mesh reconciler generates and owns (the root Namespace
 * aside: it is never deleted). Each name is fixed, since a cluster has one
 * Mesh, so that:
 * - the controller watches each by name, and a deleted or edited object is
 *   repaired at once rather than at the next resync;
 * - pruning lists each by name;
 * - config/rbac grants the operator these names and no others.
 */
export const GENERATED_OBJECTS: readonly GeneratedObject[] = [
  // In the Mesh's root namespace.
  { apiVersion: "v1", kind: "ServiceAccount", name: XDS_NAME },
  { apiVersion: "v1", kind: "Service", name: XDS_NAME },
  { apiVersion: "apps/v1", kind: "Deployment", name: XDS_NAME },
  { apiVersion: RBAC, kind: "Role", name: XDS_NAME },
  { apiVersion: RBAC, kind: "RoleBinding", name: XDS_NAME },
  // Cluster-scoped.
  { apiVersion: RBAC, kind: "ClusterRole", name: XDS_NAME },
  { apiVersion: RBAC, kind: "ClusterRoleBinding", name: XDS_NAME },
  // In every meshed namespace.
  { apiVersion: "v1", kind: "ConfigMap", name: TRUST_BUNDLE_CONFIGMAP },
  { apiVersion: "v1", kind: "ConfigMap", name: BOOTSTRAP_CONFIGMAP },
];
