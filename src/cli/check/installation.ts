import { INJECTOR_CONFIGURATION, VALIDATION_CONFIGURATION } from "../../webhook/ca-bundle.js";

/**
 * What `kubectl apply -k config/default` installs, by the names the checks
 * look for. The CLI ships without config/, so the names are written here; a
 * unit test (test/unit/cli/check/installation.test.ts) holds them to
 * config/ and crds/, so they cannot drift apart.
 */

/** The operator's namespace in config/default; `--namespace` names another. */
export const DEFAULT_OPERATOR_NAMESPACE = "skiff-system";
export const OPERATOR_DEPLOYMENT = "skiff-operator";
/** The leader-election Lease, in the operator's namespace (src/operator/operator.ts). */
export const OPERATOR_LEASE = "skiff-operator";
export const WEBHOOK_SERVICE = "skiff-webhook";
/** The Secret holding the webhooks' CA and serving certificate (the operator's --webhook-secret). */
export const WEBHOOK_SECRET = "skiff-webhook-tls";
export const WEBHOOK_CONFIGURATIONS = [
  {
    kind: "MutatingWebhookConfiguration",
    plural: "mutatingwebhookconfigurations",
    name: INJECTOR_CONFIGURATION,
  },
  {
    kind: "ValidatingWebhookConfiguration",
    plural: "validatingwebhookconfigurations",
    name: VALIDATION_CONFIGURATION,
  },
] as const;

/** Skiff's CRDs: every one serves and stores v1alpha1. */
export const SKIFF_CRDS = [
  "authorizationpolicies.skiff.dev",
  "meshes.skiff.dev",
  "peerauthentications.skiff.dev",
  "trafficpolicies.skiff.dev",
] as const;
export const SKIFF_API_VERSION = "v1alpha1";

/**
 * The oldest Kubernetes Skiff runs on: its CRDs' validation rules call CEL's
 * isIP and isCIDR (the IP and CIDR library, new in Kubernetes 1.31); an
 * older API server refuses the CRDs.
 */
export const MINIMUM_KUBERNETES = { major: 1, minor: 31 } as const;

/** A kind of object the install creates, and where: the permission checks ask for `create` of each. */
export interface InstalledResource {
  readonly kind: string;
  /** "" for the core group. */
  readonly group: string;
  readonly resource: string;
  /** Namespaced resources are created in the operator's namespace. */
  readonly namespaced: boolean;
}

export const INSTALLED_RESOURCES: readonly InstalledResource[] = [
  { kind: "Namespace", group: "", resource: "namespaces", namespaced: false },
  {
    kind: "CustomResourceDefinition",
    group: "apiextensions.k8s.io",
    resource: "customresourcedefinitions",
    namespaced: false,
  },
  { kind: "ClusterRole", group: "rbac.authorization.k8s.io", resource: "clusterroles", namespaced: false },
  {
    kind: "ClusterRoleBinding",
    group: "rbac.authorization.k8s.io",
    resource: "clusterrolebindings",
    namespaced: false,
  },
  {
    kind: "MutatingWebhookConfiguration",
    group: "admissionregistration.k8s.io",
    resource: "mutatingwebhookconfigurations",
    namespaced: false,
  },
  {
    kind: "ValidatingWebhookConfiguration",
    group: "admissionregistration.k8s.io",
    resource: "validatingwebhookconfigurations",
    namespaced: false,
  },
  { kind: "ServiceAccount", group: "", resource: "serviceaccounts", namespaced: true },
  { kind: "Role", group: "rbac.authorization.k8s.io", resource: "roles", namespaced: true },
  { kind: "RoleBinding", group: "rbac.authorization.k8s.io", resource: "rolebindings", namespaced: true },
  { kind: "Deployment", group: "apps", resource: "deployments", namespaced: true },
  { kind: "PodDisruptionBudget", group: "policy", resource: "poddisruptionbudgets", namespaced: true },
  { kind: "Service", group: "", resource: "services", namespaced: true },
];
