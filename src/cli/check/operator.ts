import type { KubernetesObject } from "@kubernetes/client-node";
import { getObject, type ReadableKind } from "../cluster/read.js";
import { OPERATOR_DEPLOYMENT, OPERATOR_LEASE } from "./installation.js";
import { failed, passed, warned, type CheckResult } from "./result.js";
import { DEPLOYMENT, deploymentProblem, type Deployment } from "./workloads.js";

const LEASE: ReadableKind = { group: "coordination.k8s.io", version: "v1", kind: "Lease", plural: "leases" };

/** The fields of a Lease the checks read. */
export interface Lease extends KubernetesObject {
  spec?: { holderIdentity?: string; renewTime?: string; leaseDurationSeconds?: number };
}

export interface OperatorState {
  readonly namespace: string;
  readonly deployment: Deployment | undefined;
  readonly lease: Lease | undefined;
}

export async function readOperator(namespace: string): Promise<OperatorState> {
  const [deployment, lease] = await Promise.all([
    getObject(DEPLOYMENT, OPERATOR_DEPLOYMENT, namespace),
    getObject(LEASE, OPERATOR_LEASE, namespace),
  ]);
  return { namespace, deployment: deployment as Deployment | undefined, lease: lease as Lease | undefined };
}

/** Who holds the leader Lease now, or undefined when nobody does (released, expired or never taken). Pure. */
export function currentLeader(lease: Lease | undefined, now: Date): string | undefined {
  const holder = lease?.spec?.holderIdentity;
  const renewed = Date.parse(lease?.spec?.renewTime ?? "");
  if (!holder || Number.isNaN(renewed)) return undefined;
  const expires = renewed + (lease?.spec?.leaseDurationSeconds ?? 0) * 1000;
  return expires > now.getTime() ? holder : undefined;
}

/**
 * The operator: its Deployment is Available, and a replica leads (holds the
 * skiff-operator Lease, renewed within its duration), so the controllers
 * run. With no Deployment but a live leader, the operator runs outside the
 * cluster, as `skiff dev` runs it: a warning, not a failure. Pure.
 */
export function operatorChecks(state: OperatorState, now: Date): CheckResult[] {
  const where = `${state.namespace}/${OPERATOR_DEPLOYMENT}`;
  const leader = currentLeader(state.lease, now);
  const deploymentDescription = `the operator Deployment ${where} is Available`;
  let deployment: CheckResult;
  if (!state.deployment) {
    deployment = leader
      ? warned(
          "operator-deployment",
          deploymentDescription,
          `there is no Deployment ${where}, but ${leader} leads: the operator runs outside the cluster (as skiff dev runs it)`,
          `install the operator in the cluster with kubectl apply -k config/default, or pass --namespace if it runs elsewhere`,
        )
      : failed(
          "operator-deployment",
          deploymentDescription,
          `there is no Deployment ${where}`,
          `install Skiff with kubectl apply -k config/default, or pass --namespace if the operator runs in another namespace`,
        );
  } else {
    const problem = deploymentProblem(state.deployment);
    deployment = problem
      ? failed(
          "operator-deployment",
          deploymentDescription,
          problem,
          `see why its Pods are not ready: kubectl -n ${state.namespace} describe deployment ${OPERATOR_DEPLOYMENT}; kubectl -n ${state.namespace} logs deployment/${OPERATOR_DEPLOYMENT}`,
        )
      : passed("operator-deployment", deploymentDescription);
  }
  const leaseDescription = `an operator replica leads (holds the Lease ${state.namespace}/${OPERATOR_LEASE})`;
  const leading = leader
    ? passed("operator-leader", leaseDescription, `held by ${leader}`)
    : failed(
        "operator-leader",
        leaseDescription,
        state.lease
          ? `the Lease was last renewed at ${state.lease.spec?.renewTime ?? "no time"} by ${state.lease.spec?.holderIdentity || "nobody"} and has expired or been released: no operator runs the controllers`
          : "there is no Lease: no operator has ever run here",
        `the operator is down: start it (kubectl -n ${state.namespace} rollout restart deployment/${OPERATOR_DEPLOYMENT}) and read its logs`,
      );
  return [deployment, leading];
}
