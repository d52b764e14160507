import type { ServerVersion } from "../cluster/server-version.js";
import { MINIMUM_KUBERNETES } from "./installation.js";
import { failed, passed, type CheckResult } from "./result.js";

/** Whether the API server is new enough for Skiff's CRDs. Pure. */
export function kubernetesVersionCheck(version: ServerVersion): CheckResult {
  const minimum = `${MINIMUM_KUBERNETES.major}.${MINIMUM_KUBERNETES.minor}`;
  const description = `is running the minimum Kubernetes API version (${minimum})`;
  const newEnough =
    version.major > MINIMUM_KUBERNETES.major ||
    (version.major === MINIMUM_KUBERNETES.major && version.minor >= MINIMUM_KUBERNETES.minor);
  if (Number.isNaN(version.major) || Number.isNaN(version.minor))
    return failed(
      "kubernetes-version",
      description,
      `the API server reports a version that is not a number: ${version.gitVersion}`,
      `Skiff needs Kubernetes ${minimum} or newer; check the cluster's version with kubectl version`,
    );
  return newEnough
    ? passed("kubernetes-version", description, version.gitVersion)
    : failed(
        "kubernetes-version",
        description,
        `the API server runs ${version.gitVersion}`,
        `Skiff's CRDs use CEL's IP and CIDR functions, new in Kubernetes ${minimum}: upgrade the cluster`,
      );
}
