import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { join } from "node:path";
import type { Logger } from "pino";
import { findBinaries, repositoryRoot } from "../controlplane/binaries.js";
import { LocalControlPlane } from "../controlplane/controlplane.js";
import { applyManifests, readManifests } from "../k8s/manifests.js";
import { LocalNode } from "../localnode/local-node.js";
import { corednsBinary, envoyBinary, fortioBinary } from "../localnode/tools.js";
import { startOperator, type RunningOperator } from "../operator/operator.js";
import { installLocalWebhooks } from "./dev-webhooks.js";
import { IMAGE_REPOSITORY, operatorImage } from "./image.js";

/** The namespace the control plane runs in; the sample Mesh names it as rootNamespace. */
export const ROOT_NAMESPACE = "skiff-system";
const MESH_READER_RBAC = join(repositoryRoot(), "config", "rbac", "mesh_reader.yaml");

/**
 * A whole local cluster with Skiff installed, as `skiff dev` and the
 * end-to-end tests use it: etcd, kube-apiserver and kube-controller-manager
 * on loopback, the operator in this process (its webhooks called by the API
 * server), and a local node that runs the Pods: the xDS server the Mesh
 * generates, and the applications with their Envoy sidecars.
 */
export interface DevCluster {
  plane: LocalControlPlane;
  kubeConfig: KubeConfig;
  node: LocalNode;
  operator: RunningOperator;
  stop(): Promise<void>;
}

export interface DevClusterOptions {
  logger: Logger;
  kubeconfigPath?: string;
  /** Folder for the node's Pods (default: a temporary one). */
  nodeStateDir?: string;
  /** Called once the API server is up, before the operator starts (apply a Mesh here). */
  beforeOperator?: (kubeConfig: KubeConfig) => Promise<void>;
}

export async function startDevCluster(options: DevClusterOptions): Promise<DevCluster> {
  const plane = await LocalControlPlane.start({
    controllerManager: true,
    kubeconfigPath: options.kubeconfigPath,
  });
  let node: LocalNode | undefined;
  let operator: RunningOperator | undefined;
  try {
    const kubeConfig = plane.kubeConfig();
    await kubeConfig
      .makeApiClient(CoreV1Api)
      .createNamespace({ body: { metadata: { name: ROOT_NAMESPACE } } });
    // The install's reader, whose token skiff proxy-status and proxy-config mint.
    await applyManifests(kubeConfig, "skiff/dev", await readManifests(MESH_READER_RBAC));
    const image = await operatorImage();
    const [envoy, fortio, coredns, { kubeProxy }] = await Promise.all([
      envoyBinary(),
      fortioBinary(),
      corednsBinary(),
      findBinaries({ include: ["kube-proxy"] }),
    ]);
    node = new LocalNode({
      kubeConfig,
      apiServerUrl: plane.apiServerUrl,
      credentials: (request) => plane.clientKubeconfig(request),
      kubeletCredentials: () => plane.kubeletCredentials(),
      programs: { skiffRoot: repositoryRoot(), skiffImages: [IMAGE_REPOSITORY, image], envoy, fortio },
      kubeProxyBinary: kubeProxy!,
      corednsBinary: coredns,
      logger: options.logger,
      ...(options.nodeStateDir ? { stateDir: options.nodeStateDir } : {}),
    });
    await node.start();
    await options.beforeOperator?.(kubeConfig);
    operator = await startLocalOperator(kubeConfig, image, options.logger);
    const started = { node, operator };
    return {
      plane,
      kubeConfig,
      ...started,
      async stop() {
        await started.operator.stop();
        await started.node.stop();
        await plane.stop();
      },
    };
  } catch (error) {
    await operator?.stop().catch(() => {});
    await node?.stop().catch(() => {});
    await plane.stop();
    throw error;
  }
}

/**
 * The operator in this process, as `skiff dev` runs it: leader election in
 * the root namespace, and its admission webhooks on loopback, registered
 * with the API server so that it really calls them.
 */
export async function startLocalOperator(
  kubeConfig: KubeConfig,
  image: string,
  logger: Logger,
): Promise<RunningOperator> {
  const operator = await startOperator(kubeConfig, {
    logger,
    image,
    httpAddress: "127.0.0.1:0",
    leaderElection: true,
    leaseNamespace: ROOT_NAMESPACE,
    webhook: {
      address: "127.0.0.1:0",
      namespace: ROOT_NAMESPACE,
      secretName: "skiff-webhook-tls",
      hosts: ["127.0.0.1"],
    },
  });
  try {
    await installLocalWebhooks(kubeConfig, operator.webhook!.port, operator.webhook!.caBundle());
  } catch (error) {
    await operator.stop().catch(() => {});
    throw error;
  }
  return operator;
}
