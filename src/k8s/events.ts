import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import { randomBytes } from "node:crypto";
import type { Condition } from "./conditions.js";
import { apiPath, RestClient } from "./rest.js";
import { truncateUtf8 } from "./truncate.js";
import { kubernetesMicroTime } from "./time.js";

export interface EventSpec {
  type: "Normal" | "Warning";
  /** CamelCase, such as CertificateAuthorityCreated. */
  reason: string;
  /** What the controller did or observed, such as Create or Reconcile. */
  action: string;
  note: string;
}

/**
 * The events a set of condition changes deserves: one per condition whose
 * status flipped (or that appeared), Warning when it is no longer True.
 * Unchanged conditions make no event, so a steady state is quiet. Pure.
 */
export function conditionTransitionEvents(
  previous: readonly Condition[],
  next: readonly Condition[],
): EventSpec[] {
  return next
    .filter((c) => previous.find((p) => p.type === c.type)?.status !== c.status)
    .map((c) => ({
      type: c.status === "True" ? "Normal" : "Warning",
      reason: c.reason,
      action: "Reconcile",
      // The API server counts an Event's note in bytes.
      note: truncateUtf8(`${c.type}=${c.status}: ${c.message}`, 1024),
    }));
}

/**
 * Records events.k8s.io/v1 Events about objects, as `kubectl describe` shows
 * them. An event is a courtesy to people: failing to record one is logged by
 * the caller, never a reason to fail a reconcile.
 */
export class EventRecorder {
  private readonly rest: RestClient;

  constructor(
    kubeConfig: KubeConfig,
    /** The controller's name, such as skiff.dev/mesh-controller. */
    private readonly controller: string,
    /** This replica, such as the Pod name. */
    private readonly instance: string,
  ) {
    this.rest = new RestClient(kubeConfig, 5_000);
  }

  async record(regarding: KubernetesObject, event: EventSpec, now = new Date()): Promise<void> {
    // Events of cluster-scoped objects live in "default", as the Kubernetes controllers do it.
    const namespace = regarding.metadata?.namespace ?? "default";
    await this.rest.request("POST", apiPath`/apis/events.k8s.io/v1/namespaces/${namespace}/events`, {
      body: {
        apiVersion: "events.k8s.io/v1",
        kind: "Event",
        metadata: { name: `${regarding.metadata?.name}.${randomBytes(8).toString("hex")}`, namespace },
        eventTime: kubernetesMicroTime(now),
        reportingController: this.controller,
        reportingInstance: this.instance,
        action: event.action,
        reason: event.reason,
        note: truncateUtf8(event.note, 1024),
        type: event.type,
        regarding: {
          apiVersion: regarding.apiVersion,
          kind: regarding.kind,
          name: regarding.metadata?.name,
          namespace: regarding.metadata?.namespace,
          uid: regarding.metadata?.uid,
          resourceVersion: regarding.metadata?.resourceVersion,
        },
      },
    });
  }
}
