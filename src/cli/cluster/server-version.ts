import { GenericKind, K8s } from "kubernetes-fluent-client";
import { ClusterAccessError } from "./kubeconfig.js";
import { describeReadError } from "./read.js";

export interface ServerVersion {
  readonly major: number;
  readonly minor: number;
  /** As the API server says it, e.g. v1.37.2. */
  readonly gitVersion: string;
}

/**
 * The API server's version (GET /version, as `kubectl version` reads it),
 * through kubernetes-fluent-client. Throws ClusterAccessError with one line
 * when the server does not answer or refuses the credentials.
 */
export async function serverVersion(): Promise<ServerVersion> {
  let info: { major?: string; minor?: string; gitVersion?: string };
  try {
    info = (await K8s(GenericKind).Raw("/version")) as typeof info;
  } catch (error) {
    throw new ClusterAccessError(describeReadError(error, "read its version (GET /version)"));
  }
  // Some distributions write "31+" for the minor version.
  return {
    major: parseInt(info.major ?? "", 10),
    minor: parseInt(info.minor ?? "", 10),
    gitVersion: info.gitVersion ?? "",
  };
}
