import { VersionApi, type KubeConfig } from "@kubernetes/client-node";
import { ClusterAccessError } from "./kubeconfig.js";

export interface ServerVersion {
  readonly major: number;
  readonly minor: number;
  /** As the API server says it, e.g. v1.37.2. */
  readonly gitVersion: string;
}

/**
 * The API server's version (GET /version). kubernetes-fluent-client reads
 * only resources, not this path, so it goes through client-node with the
 * KubeConfig useKubeconfig chose. Throws ClusterAccessError with one line
 * when the server does not answer or refuses the credentials.
 */
export async function serverVersion(kubeConfig: KubeConfig): Promise<ServerVersion> {
  let info: { major: string; minor: string; gitVersion: string };
  try {
    info = await kubeConfig.makeApiClient(VersionApi).getCode();
  } catch (error) {
    throw new ClusterAccessError(describeVersionError(error, kubeConfig.getCurrentCluster()?.server ?? ""));
  }
  // Some distributions write "31+" for the minor version.
  return { major: parseInt(info.major, 10), minor: parseInt(info.minor, 10), gitVersion: info.gitVersion };
}

function describeVersionError(error: unknown, server: string): string {
  const failure = error as { code?: number | string; cause?: { code?: string }; message?: string };
  if (failure.code === 401)
    return `the API server at ${server} refused the kubeconfig's credentials (401 Unauthorized)`;
  if (typeof failure.code === "number")
    return `the API server at ${server} answered ${failure.code} to GET /version`;
  const cause = failure.cause?.code ?? failure.code ?? failure.message?.split("\n")[0] ?? String(error);
  return `cannot reach the cluster's API server at ${server}: ${cause}`;
}
