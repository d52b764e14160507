import type { KubernetesObject } from "@kubernetes/client-node";
import type { Mesh } from "../../api/v1alpha1/generated/mesh.js";
import { meshIdentity } from "../../mesh/defaults.js";
import { XDS_NAME } from "../../mesh/names.js";
import { getThroughServiceProxy, type ProxiedAnswer } from "../cluster/service-proxy.js";
import { activeMesh } from "../../mesh/singleton.js";
import { getObject, listObjects, type ReadableKind } from "../cluster/read.js";
import { failed, passed, warned, type CheckResult } from "./result.js";
import {
  DEPLOYMENT,
  deploymentProblem,
  readServiceEndpoints,
  type Deployment,
  type ServiceEndpoints,
} from "./workloads.js";

const MESH: ReadableKind = { group: "skiff.dev", version: "v1alpha1", kind: "Mesh", plural: "meshes" };

export type MeshObject = Mesh & KubernetesObject;

/** The Mesh in force (the oldest, as the operator picks it), or undefined when there is none. */
export async function readActiveMesh(): Promise<MeshObject | undefined> {
  const meshes = (await listObjects(MESH)) as MeshObject[];
  return activeMesh(meshes);
}

export interface ControlPlaneState {
  readonly mesh: MeshObject | undefined;
  readonly xdsDeployment: Deployment | undefined;
  readonly xdsEndpoints: ServiceEndpoints | undefined;
  /** The xDS server's /readyz through the API server's service proxy; undefined when there is no Service to ask. */
  readonly xdsReadyz?: ProxiedAnswer;
}

export async function readControlPlane(mesh: MeshObject | undefined): Promise<ControlPlaneState> {
  if (!mesh) return { mesh, xdsDeployment: undefined, xdsEndpoints: undefined };
  const { rootNamespace } = meshIdentity(mesh);
  const [xdsDeployment, xdsEndpoints] = await Promise.all([
    getObject(DEPLOYMENT, XDS_NAME, rootNamespace),
    readServiceEndpoints(rootNamespace, XDS_NAME),
  ]);
  const xdsReadyz = xdsEndpoints.serviceExists
    ? await getThroughServiceProxy(rootNamespace, XDS_NAME, XDS_MONITORING_PORT_NAME, "/readyz")
    : undefined;
  return {
    mesh,
    xdsDeployment: xdsDeployment as Deployment | undefined,
    xdsEndpoints,
    ...(xdsReadyz ? { xdsReadyz } : {}),
  };
}

export function meshCondition(mesh: MeshObject, type: string) {
  return mesh.status?.conditions?.find((c) => c.type === type);
}

/** What to do for each reason Ready can carry (src/controllers/mesh/status.ts), beyond reading the message. */
const READY_HINTS: Record<string, string> = {
  DeploymentPending:
    "the xDS server's Deployment has not become Available yet: see the skiff-xds checks below",
  ReconcileFailed: "the operator fails to reconcile the Mesh: read its logs",
  TrustBundleUnavailable: "the mesh CA is not ready: see the skiff-identity checks below",
  InvalidNamespaceSelector: "fix spec.injection.namespaceSelector",
  InvalidSidecarSettings: "fix spec.injection.proxy (the message names the field)",
  InvalidResources: "fix spec.controlPlane (the message names the field)",
};

/**
 * The mesh's control plane: a Mesh exists and is Ready, and the xDS server
 * it generates is Available and behind ready endpoints of its Service. Pure.
 */
export function controlPlaneChecks(state: ControlPlaneState): CheckResult[] {
  const mesh = state.mesh;
  if (!mesh)
    return [
      failed(
        "mesh-exists",
        "a Mesh exists",
        "there is no Mesh: Skiff runs no control plane without one",
        "create one: kubectl apply -f config/samples/skiff.dev_v1alpha1_mesh.yaml",
      ),
    ];
  const name = mesh.metadata?.name ?? "";
  const checks = [passed("mesh-exists", "a Mesh exists", name)];
  const ready = meshCondition(mesh, "Ready");
  const readyDescription = `the Mesh ${name} is Ready`;
  checks.push(
    ready?.status === "True"
      ? passed("mesh-ready", readyDescription)
      : failed(
          "mesh-ready",
          readyDescription,
          ready
            ? `Ready=${ready.status}, reason ${ready.reason}: ${ready.message}`
            : "the operator has not reported on it yet",
          ready
            ? (READY_HINTS[ready.reason] ?? `see kubectl describe mesh ${name}`)
            : "check that the operator runs (see skiff-operator above)",
        ),
  );
  const { rootNamespace } = meshIdentity(mesh);
  const xds = `${rootNamespace}/${XDS_NAME}`;
  const deploymentDescription = `the xDS server Deployment ${xds} is Available`;
  const problem = state.xdsDeployment
    ? deploymentProblem(state.xdsDeployment)
    : `there is no Deployment ${xds}`;
  checks.push(
    problem
      ? failed(
          "xds-deployment",
          deploymentDescription,
          problem,
          state.xdsDeployment
            ? `see why its Pods are not ready: kubectl -n ${rootNamespace} describe deployment ${XDS_NAME}; kubectl -n ${rootNamespace} logs deployment/${XDS_NAME}`
            : `the operator generates it for the Mesh: check that the operator runs and the Mesh's conditions`,
        )
      : passed("xds-deployment", deploymentDescription),
  );
  const endpoints = state.xdsEndpoints;
  const serviceDescription = `the xDS server Service ${xds} has ready endpoints`;
  checks.push(
    !endpoints?.serviceExists
      ? failed(
          "xds-endpoints",
          serviceDescription,
          `there is no Service ${xds}`,
          "the operator generates it for the Mesh: check that the operator runs",
        )
      : endpoints.readyAddresses === 0
        ? failed(
            "xds-endpoints",
            serviceDescription,
            "no ready xDS server Pod backs it: sidecars cannot get configuration or certificates",
            `kubectl -n ${rootNamespace} get pods -l app.kubernetes.io/name=${XDS_NAME}; a Pod is ready once it serves xDS`,
          )
        : passed("xds-endpoints", serviceDescription, `${endpoints.readyAddresses} ready`),
  );
  if (state.xdsReadyz) checks.push(xdsServingCheck(state.xdsReadyz, rootNamespace));
  return checks;
}

/** The xDS Service's monitoring port, whose /readyz the readiness probe reads too (src/controllers/mesh/desired.ts). */
const XDS_MONITORING_PORT_NAME = "http-monitoring";

/**
 * The xDS server answers its /readyz "ok" when asked now, through the API
 * server; "not ready" (503) fails. Any other outcome is a warning: the API
 * server got no answer, or an answer that is not the probe server's (some
 * clusters' API servers have no route to Pods, or go through a proxy), and
 * the endpoints check, fed by the same probe, stands for it. Pure.
 */
export function xdsServingCheck(answer: ProxiedAnswer, rootNamespace: string): CheckResult {
  const description = "the xDS server answers that it is ready to serve (/readyz, through the API server)";
  const body = answer.kind === "answered" ? answer.body.trim() : "";
  if (answer.kind === "answered" && answer.status === 200 && body === "ok")
    return passed("xds-serving", description);
  if (answer.kind === "answered" && answer.status === 503 && body === "not ready")
    return failed(
      "xds-serving",
      description,
      "it answered 503: not ready",
      `an xDS server is ready once its caches are synced and it has built the mesh's configuration: read its logs (kubectl -n ${rootNamespace} logs deployment/${XDS_NAME})`,
    );
  return warned(
    "xds-serving",
    description,
    answer.kind === "answered"
      ? `the answer did not come from the xDS server's probe endpoint: ${answer.status} ${body.slice(0, 200)}`
      : `the API server did not reach it: ${answer.message}`,
    answer.kind === "not-proxied" && answer.status === 403
      ? "run skiff check as a user who may get services/proxy in the root namespace"
      : "in clusters whose API server has no route to Pods, or reaches them through a proxy, this cannot be asked; otherwise check the xDS Pods (see the endpoints check above)",
  );
}
