import type { KubernetesObject } from "@kubernetes/client-node";
import { basename, dirname } from "node:path";
// One module per kind, not the group's index: an index loads every kind of its group (and its
// validator), about 10 MiB of the operator's memory for kinds it never makes.
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { ClusterRole } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole";
import { ClusterRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding";
import { Role } from "kubernetes-models/rbac.authorization.k8s.io/v1/Role";
import { RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import type { Mesh } from "../../api/v1alpha1/generated/mesh.js";
import {
  DEFAULT_MAX_DOWNSTREAM_CONNECTIONS,
  DEFAULT_MAX_HEAP_SIZE_BYTES,
  renderBootstrap,
} from "../../inject/bootstrap.js";
import { proxyMemoryLimitBytes } from "./issues.js";
import { XDS_ALLOCATOR_ENV } from "./xds-allocator-env.js";
import {
  AGENT_RUN_DIRECTORY,
  AGENT_SDS_SOCKET,
  AGENT_XDS_SOCKET,
  DEFAULT_PROMETHEUS_PORT,
  ENVOY_ADMIN_PORT,
  HEALTH_PORT,
} from "../../mesh/proxy.js";
import { MANAGED_BY_LABEL } from "../../mesh/annotations.js";
import { TOKEN_AUDIENCE } from "../../inject/sidecar.js";
import {
  BOOTSTRAP_CONFIGMAP,
  CA_SECRET,
  CERT_MANAGER_SECRET,
  TRUST_BUNDLE_CONFIGMAP,
  XDS_GRPC_PORT,
  XDS_MONITORING_PORT,
  XDS_NAME,
  XDS_POD_LABELS,
  XDS_TOKEN_FILE,
  xdsServiceAddress,
} from "../../mesh/names.js";
import { MESH_DEFAULTS, meshIdentity } from "../../mesh/defaults.js";

/** The Mesh fields the generated objects depend on, with the API server's defaults applied. */
export interface MeshSettings {
  name: string;
  uid: string;
  rootNamespace: string;
  replicas: number;
  /** The xDS server image: spec.controlPlane.image, or the operator's own. */
  image: string;
  resources: Record<string, unknown> | undefined;
  /** What the sidecars' Envoy bootstrap takes from the Mesh. */
  proxy: { prometheusPort: number; otlpEndpoint: string; maxHeapSizeBytes: number };
}

export function meshSettings(mesh: Mesh, operatorImage: string): MeshSettings {
  return {
    name: mesh.metadata.name!,
    uid: mesh.metadata.uid!,
    rootNamespace: meshIdentity(mesh).rootNamespace,
    replicas: mesh.spec?.controlPlane?.replicas ?? MESH_DEFAULTS.controlPlaneReplicas,
    image: mesh.spec?.controlPlane?.image || operatorImage,
    resources: mesh.spec?.controlPlane?.resources as Record<string, unknown> | undefined,
    proxy: {
      prometheusPort: mesh.spec?.observability?.metrics?.prometheusPort ?? DEFAULT_PROMETHEUS_PORT,
      otlpEndpoint: mesh.spec?.observability?.tracing?.otlpEndpoint ?? "",
      // Envoy's heap limit follows the sidecar's memory limit, when there is one. One that
      // proxyResourcesIssues refuses is left out: the reconciler renders no bootstrap then.
      maxHeapSizeBytes: proxyMemoryLimitBytes(mesh) ?? DEFAULT_MAX_HEAP_SIZE_BYTES,
    },
  };
}

export function xdsAddress(s: Pick<MeshSettings, "rootNamespace">): string {
  return xdsServiceAddress(s.rootNamespace);
}

function metadata(s: MeshSettings, name: string, namespace?: string) {
  return {
    name,
    ...(namespace ? { namespace } : {}),
    labels: {
      "app.kubernetes.io/name": XDS_NAME,
      "app.kubernetes.io/part-of": "skiff",
      [MANAGED_BY_LABEL]: s.name,
    },
    // The Mesh is cluster-scoped, so it may own objects in any namespace.
    ownerReferences: [
      {
        apiVersion: "skiff.dev/v1alpha1",
        kind: "Mesh",
        name: s.name,
        uid: s.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ],
  };
}

const asObject = (model: { toJSON(): unknown; validate(): void }): KubernetesObject => {
  model.validate();
  return model.toJSON() as KubernetesObject;
};

const XDS_TOKEN_VOLUME = "skiff-token";

/**
 * The xDS server in the root namespace: Namespace, ServiceAccount, RBAC,
 * Deployment and Service. Pure.
 */
export function desiredControlPlane(s: MeshSettings): KubernetesObject[] {
  const ns = s.rootNamespace;
  const readAll = ["get", "list", "watch"];
  return [
    asObject(new Namespace({ metadata: { name: ns, labels: { "app.kubernetes.io/part-of": "skiff" } } })),
    asObject(new ServiceAccount({ metadata: metadata(s, XDS_NAME, ns) })),
    asObject(
      new ClusterRole({
        metadata: metadata(s, XDS_NAME),
        rules: [
          {
            apiGroups: [""],
            resources: ["services", "pods", "namespaces", "serviceaccounts"],
            verbs: readAll,
          },
          { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: readAll },
          {
            apiGroups: ["skiff.dev"],
            resources: ["meshes", "trafficpolicies", "peerauthentications", "authorizationpolicies"],
            verbs: readAll,
          },
          {
            apiGroups: ["skiff.dev"],
            resources: [
              "trafficpolicies/status",
              "peerauthentications/status",
              "authorizationpolicies/status",
              // status.connectedProxies only: the rest of the Mesh's status is the operator's.
              "meshes/status",
            ],
            verbs: ["patch"],
          },
          // Proxies prove their identity with a ServiceAccount token before they get certificates.
          { apiGroups: ["authentication.k8s.io"], resources: ["tokenreviews"], verbs: ["create"] },
          // CSDS callers must be the mesh's operators: asked of the API server's authorizer.
          { apiGroups: ["authorization.k8s.io"], resources: ["subjectaccessreviews"], verbs: ["create"] },
        ],
      }),
    ),
    asObject(
      new ClusterRoleBinding({
        metadata: metadata(s, XDS_NAME),
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: XDS_NAME },
        subjects: [{ kind: "ServiceAccount", name: XDS_NAME, namespace: ns }],
      }),
    ),
    asObject(
      new Role({
        metadata: metadata(s, XDS_NAME, ns),
        rules: [
          { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "create", "update"] },
          {
            apiGroups: [""],
            resources: ["secrets"],
            resourceNames: [CA_SECRET, CERT_MANAGER_SECRET],
            verbs: ["get", "watch", "list"],
          },
        ],
      }),
    ),
    asObject(
      new RoleBinding({
        metadata: metadata(s, XDS_NAME, ns),
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: XDS_NAME },
        subjects: [{ kind: "ServiceAccount", name: XDS_NAME, namespace: ns }],
      }),
    ),
    asObject(
      new Deployment({
        metadata: metadata(s, XDS_NAME, ns),
        spec: {
          replicas: s.replicas,
          selector: { matchLabels: XDS_POD_LABELS },
          template: {
            metadata: { labels: { ...XDS_POD_LABELS, "app.kubernetes.io/part-of": "skiff" } },
            spec: {
              serviceAccountName: XDS_NAME,
              securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
              containers: [
                {
                  name: "xds",
                  image: s.image,
                  // TLS from the mesh CA, and a token on every stream: sidecars dial it through skiff agent.
                  args: ["xds"],
                  ports: [
                    { name: "grpc-xds", containerPort: XDS_GRPC_PORT },
                    { name: "http-monitoring", containerPort: XDS_MONITORING_PORT },
                  ],
                  env: [
                    { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
                    { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
                    { name: "SKIFF_MESH", value: s.name },
                    ...XDS_ALLOCATOR_ENV,
                  ],
                  readinessProbe: { httpGet: { path: "/readyz", port: "http-monitoring" }, periodSeconds: 5 },
                  livenessProbe: {
                    httpGet: { path: "/healthz", port: "http-monitoring" },
                    periodSeconds: 10,
                  },
                  ...(s.resources ? { resources: s.resources } : {}),
                  securityContext: {
                    allowPrivilegeEscalation: false,
                    readOnlyRootFilesystem: true,
                    capabilities: { drop: ["ALL"] },
                  },
                  volumeMounts: [
                    { name: XDS_TOKEN_VOLUME, mountPath: dirname(XDS_TOKEN_FILE), readOnly: true },
                  ],
                },
              ],
              // The replica that writes status asks the others for their proxies' status with this token.
              volumes: [
                {
                  name: XDS_TOKEN_VOLUME,
                  projected: {
                    sources: [
                      {
                        serviceAccountToken: {
                          audience: TOKEN_AUDIENCE,
                          expirationSeconds: 3600,
                          path: basename(XDS_TOKEN_FILE),
                        },
                      },
                    ],
                  },
                },
              ],
            },
          },
        },
      }),
    ),
    asObject(
      new Service({
        metadata: metadata(s, XDS_NAME, ns),
        spec: {
          selector: XDS_POD_LABELS,
          ports: [
            { name: "grpc-xds", port: XDS_GRPC_PORT, targetPort: "grpc-xds", appProtocol: "grpc" },
            { name: "http-monitoring", port: XDS_MONITORING_PORT, targetPort: "http-monitoring" },
          ],
        },
      }),
    ),
  ];
}

/** The trust bundle and Envoy bootstrap ConfigMaps of one meshed namespace. Pure. */
export function desiredNamespaceConfig(
  s: MeshSettings,
  namespace: string,
  trustBundlePem: string,
): KubernetesObject[] {
  return [
    asObject(
      new ConfigMap({
        metadata: metadata(s, TRUST_BUNDLE_CONFIGMAP, namespace),
        data: { "root-cert.pem": trustBundlePem },
      }),
    ),
    asObject(
      new ConfigMap({
        metadata: metadata(s, BOOTSTRAP_CONFIGMAP, namespace),
        data: {
          "envoy.json": renderBootstrap({
            // Envoy reaches both through the sidecar's skiff agent, which dials xdsAddress.
            xds: { socketPath: `${AGENT_RUN_DIRECTORY}/${AGENT_XDS_SOCKET}` },
            sdsSocketPath: `${AGENT_RUN_DIRECTORY}/${AGENT_SDS_SOCKET}`,
            adminPort: ENVOY_ADMIN_PORT,
            prometheusPort: s.proxy.prometheusPort,
            healthPort: HEALTH_PORT,
            otlpEndpoint: s.proxy.otlpEndpoint,
            maxHeapSizeBytes: s.proxy.maxHeapSizeBytes,
            maxDownstreamConnections: DEFAULT_MAX_DOWNSTREAM_CONNECTIONS,
          }),
        },
      }),
    ),
  ];
}
