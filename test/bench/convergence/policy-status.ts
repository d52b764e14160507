import type { KubernetesObject } from "@kubernetes/client-node";
import type { TrafficPolicy } from "../../../src/api/v1alpha1/generated/trafficpolicy.js";
import { findCondition, type Condition } from "../../../src/k8s/conditions.js";

export type PolicyObject = TrafficPolicy & KubernetesObject;

/** The policy's condition is True for the generation it has now (not for an older spec). */
export function holdsNow(policy: PolicyObject, type: "Accepted" | "Programmed"): boolean {
  const condition = findCondition((policy.status?.conditions ?? []) as Condition[], type);
  return condition?.status === "True" && condition.observedGeneration === policy.metadata.generation;
}
