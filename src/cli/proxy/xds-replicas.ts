import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import { readFile } from "node:fs/promises";
import { credentials, type ChannelCredentials } from "@grpc/grpc-js";
import { MESH_DEFAULTS, meshIdentity } from "../../mesh/defaults.js";
import { activeMesh } from "../../mesh/singleton.js";
import { INJECTION_LABEL } from "../../mesh/annotations.js";
import { TRUST_BUNDLE_CONFIGMAP, XDS_GRPC_PORT, XDS_POD_LABELS, xdsServerNames } from "../../mesh/names.js";
import { forwardPodPort } from "../cluster/port-forward.js";
import { ClusterAccessError } from "../cluster/kubeconfig.js";
import { getObject, listObjects } from "../cluster/read.js";
import { requestServiceAccountToken } from "../cluster/service-account-token.js";
import { MESH_READER_SERVICE_ACCOUNT, type XdsAccessOptions } from "./xds-options.js";

const MESH = { group: "skiff.dev", version: "v1alpha1", kind: "Mesh", plural: "meshes" };
const POD = { group: "", version: "v1", kind: "Pod", plural: "pods" };
const CONFIG_MAP = { group: "", version: "v1", kind: "ConfigMap", plural: "configmaps" };
const NAMESPACE = { group: "", version: "v1", kind: "Namespace", plural: "namespaces" };

/** A minted token lives this long: enough for one command, short if it leaks. */
const TOKEN_SECONDS = 600;

/** One xDS server to ask: its name in output (the Pod, or the address given) and where to dial it. */
export interface XdsReplica {
  readonly name: string;
  readonly address: string;
  /** Why the way to it failed, when it is known (a port-forward the API server refused). */
  failure?(): string | undefined;
  close(): Promise<void>;
}

export interface XdsAccess {
  readonly replicas: readonly XdsReplica[];
  readonly credentials: ChannelCredentials;
  readonly serverName?: string;
  readonly token: string;
  close(): Promise<void>;
}

/**
 * Everything needed to ask the mesh's xDS servers: their addresses (given,
 * or every Ready Pod of skiff-xds in the Mesh's root namespace, each through
 * an API server port-forward), the channel credentials (plaintext, or TLS to
 * skiff-xds.<root>.svc with the mesh root) and a bearer token (given, or a
 * 10-minute one minted for skiff-mesh-reader in the root namespace). The
 * cluster is read only for what the options leave open.
 */
export async function xdsAccess(options: XdsAccessOptions, kubeConfig: () => KubeConfig): Promise<XdsAccess> {
  const needsCluster =
    options.addresses.length === 0 ||
    options.token === undefined ||
    (!options.plaintext && (options.caFile === undefined || options.serverName === undefined));
  // Chosen first: fluent-client reads the kubeconfig this sets.
  if (needsCluster) kubeConfig();
  // Without the cluster, the root namespace matters to nothing the options leave open.
  const root = needsCluster ? await meshRootNamespace() : MESH_DEFAULTS.rootNamespace;
  const channel = options.plaintext
    ? credentials.createInsecure()
    : credentials.createSsl(await trustBundle(options.caFile, root, options.podNamespace));
  const token =
    options.token ??
    (await requestServiceAccountToken(
      kubeConfig(),
      root,
      MESH_READER_SERVICE_ACCOUNT,
      "skiff",
      TOKEN_SECONDS,
    ));
  const replicas =
    options.addresses.length > 0
      ? options.addresses.map((address) => ({ name: address, address, close: async () => {} }))
      : await forwardedReplicas(kubeConfig(), root);
  return {
    replicas,
    credentials: channel,
    serverName: options.plaintext ? undefined : (options.serverName ?? xdsServerNames(root, "")[0]),
    token,
    close: async () => {
      await Promise.all(replicas.map((replica) => replica.close()));
    },
  };
}

/** The root namespace of the cluster's Mesh (a cluster has one). */
async function meshRootNamespace(): Promise<string> {
  const meshes = await listObjects(MESH);
  if (meshes.length === 0)
    throw new ClusterAccessError("the cluster has no Mesh (kubectl get meshes.skiff.dev)");
  return meshIdentity(activeMesh(meshes) as Parameters<typeof meshIdentity>[0]).rootNamespace;
}

/** The Ready xDS server Pods, each behind a local port-forward to its gRPC port. */
async function forwardedReplicas(kubeConfig: KubeConfig, namespace: string): Promise<XdsReplica[]> {
  const pods = (await listObjects(POD, namespace)).filter((pod) => isXdsServer(pod) && isReady(pod));
  if (pods.length === 0)
    throw new ClusterAccessError(`no Ready xDS server Pod (skiff-xds) in the namespace ${namespace}`);
  return Promise.all(
    pods.map(async (pod) => {
      const name = pod.metadata!.name!;
      const forward = await forwardPodPort(kubeConfig, namespace, name, XDS_GRPC_PORT);
      return {
        name: `${name}.${namespace}`,
        address: forward.address,
        failure: () => forward.failure(),
        close: () => forward.close(),
      };
    }),
  );
}

function isXdsServer(pod: KubernetesObject): boolean {
  const labels = pod.metadata?.labels ?? {};
  return Object.entries(XDS_POD_LABELS).every(([key, value]) => labels[key] === value);
}

function isReady(pod: KubernetesObject): boolean {
  const conditions = (pod as { status?: { conditions?: { type: string; status: string }[] } }).status
    ?.conditions;
  return conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/**
 * The mesh root, from a file or from a skiff-trust-bundle ConfigMap: the
 * root namespace's when it is meshed, else the asked Pod's namespace's, else
 * the first meshed namespace's (every meshed namespace holds the same root).
 */
async function trustBundle(file: string | undefined, root: string, podNamespace?: string): Promise<Buffer> {
  if (file !== undefined)
    return readFile(file).catch((error: Error) => {
      throw new ClusterAccessError(`cannot read --xds-ca-file ${file}: ${error.message}`);
    });
  const candidates = [root, ...(podNamespace ? [podNamespace] : [])];
  for (const namespace of candidates) {
    const bundle = await trustBundleIn(namespace);
    if (bundle) return bundle;
  }
  for (const namespace of await listObjects(NAMESPACE)) {
    if (namespace.metadata?.labels?.[INJECTION_LABEL] !== "enabled") continue;
    const bundle = await trustBundleIn(namespace.metadata.name!);
    if (bundle) return bundle;
  }
  throw new ClusterAccessError(
    `no ${TRUST_BUNDLE_CONFIGMAP} ConfigMap found to verify the xDS server; give the mesh root with --xds-ca-file`,
  );
}

async function trustBundleIn(namespace: string): Promise<Buffer | undefined> {
  const configMap = (await getObject(CONFIG_MAP, TRUST_BUNDLE_CONFIGMAP, namespace)) as
    { data?: Record<string, string> } | undefined;
  const pem = configMap?.data?.["root-cert.pem"];
  return pem ? Buffer.from(pem) : undefined;
}
