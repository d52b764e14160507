import type { KubeConfig } from "@kubernetes/client-node";
import { ClusterAccessError } from "../cluster/kubeconfig.js";
import { serverVersion } from "../cluster/server-version.js";
import { installedCrdChecks, preInstallCrdChecks, readSkiffCrds } from "./crds.js";
import { identityChecks, readTrustBundle } from "./identity.js";
import { kubernetesVersionCheck } from "./kubernetes-version.js";
import { controlPlaneChecks, readActiveMesh, readControlPlane, type MeshObject } from "./mesh.js";
import { operatorChecks, readOperator } from "./operator.js";
import { installPermissionChecks } from "./permissions.js";
import { failed, passed, type CheckGroup, type CheckResult } from "./result.js";
import { readWebhooks, webhookChecks } from "./webhooks.js";

export interface CheckOptions {
  /** Before install (`--pre`) or after (the default). */
  readonly pre: boolean;
  /** The operator's namespace. */
  readonly namespace: string;
  readonly now: () => Date;
}

/**
 * Runs every check of one pass. An API server that does not answer, or
 * refuses the credentials, throws ClusterAccessError (one line, exit 1):
 * nothing else could be checked. A read refused later (403) fails the
 * group it belongs to, with the API server's words.
 */
export async function runChecks(kubeConfig: KubeConfig, options: CheckOptions): Promise<CheckGroup[]> {
  const server = kubeConfig.getCurrentCluster()?.server ?? "";
  const version = await serverVersion().catch((error: unknown) => {
    // Which server: the kubeconfig may not be the one the user meant.
    throw error instanceof ClusterAccessError
      ? new ClusterAccessError(`${error.message} (${server})`)
      : error;
  });
  const groups: CheckGroup[] = [
    {
      name: "kubernetes-api",
      checks: [
        passed("kubernetes-api", "can initialize the client", server),
        passed("kubernetes-api", "can query the Kubernetes API"),
      ],
    },
    { name: "kubernetes-version", checks: [kubernetesVersionCheck(version)] },
  ];
  const group = async (name: string, checks: () => Promise<CheckResult[]>) =>
    groups.push({ name, checks: await orReadFailure(name, checks) });
  if (options.pre) {
    await group("pre-kubernetes-setup", () => installPermissionChecks(options.namespace));
    await group("pre-skiff-crds", async () => preInstallCrdChecks(await readSkiffCrds()));
    return groups;
  }
  await group("skiff-existence", async () => installedCrdChecks(await readSkiffCrds()));
  await group("skiff-operator", async () =>
    operatorChecks(await readOperator(options.namespace), options.now()),
  );
  await group("skiff-webhooks", async () =>
    webhookChecks(await readWebhooks(options.namespace), options.now()),
  );
  let mesh: MeshObject | undefined;
  await group("skiff-control-plane", async () => {
    mesh = await readActiveMesh();
    return controlPlaneChecks(await readControlPlane(mesh));
  });
  // Without a Mesh there is no CA: the control-plane group has said so.
  const found = mesh;
  if (found)
    await group("skiff-identity", async () =>
      identityChecks(found, await readTrustBundle(found), options.now()),
    );
  return groups;
}

/** A group whose reads were refused is one failed line saying so, and the other groups still run. */
async function orReadFailure(name: string, checks: () => Promise<CheckResult[]>): Promise<CheckResult[]> {
  try {
    return await checks();
  } catch (error) {
    if (!(error instanceof ClusterAccessError)) throw error;
    return [
      failed(
        "read-access",
        `can read what the ${name} checks need`,
        error.message,
        "run skiff check as a user who may read Skiff's objects, Deployments, Services, EndpointSlices, Leases and webhook configurations",
      ),
    ];
  }
}
