import type {
  IContainerState,
  IContainerStatus,
  IPod,
  IPodCondition,
  IPodStatus,
} from "kubernetes-models/v1";

/** What the node knows of one container of a Pod. */
export interface ContainerRecord {
  name: string;
  image: string;
  /** An init container that runs to completion (not a native sidecar). */
  runToCompletion: boolean;
  /** An init container with restartPolicy: Always. */
  sidecar: boolean;
  state: IContainerState;
  lastState?: IContainerState;
  restartCount: number;
  ready: boolean;
  started: boolean;
  /** A run-to-completion init container that exited 0. */
  completed: boolean;
}

/** The Pod as the node runs it. */
export interface PodRecord {
  podIP?: string;
  hostIP: string;
  startTime: string;
  initContainers: ContainerRecord[];
  containers: ContainerRecord[];
  /** The Pod has failed for good (an init container failed under restartPolicy: Never). */
  failed?: { reason: string; message: string };
  /** When each condition last changed, by type; kept by the caller across calls. */
  transitions: Map<string, { status: string; time: string }>;
  now: string;
}

function containerStatus(c: ContainerRecord): IContainerStatus {
  return {
    name: c.name,
    image: c.image,
    imageID: "",
    containerID:
      c.state.running || c.state.terminated ? `skiff-localnode://${c.name}-${c.restartCount}` : undefined,
    state: c.state,
    ...(c.lastState ? { lastState: c.lastState } : { lastState: {} }),
    ready: c.ready,
    restartCount: c.restartCount,
    started: c.started,
  };
}

function phase(pod: IPod, record: PodRecord): IPodStatus["phase"] {
  if (record.failed) return "Failed";
  const initialized = record.initContainers.every((c) => c.completed || (c.sidecar && c.started));
  if (!initialized || !record.podIP) return "Pending";
  const policy = pod.spec?.restartPolicy ?? "Always";
  const main = record.containers;
  if (main.some((c) => c.state.running)) return "Running";
  const finished = main.every(
    (c) =>
      c.state.terminated &&
      (policy === "Never" || (policy === "OnFailure" && c.state.terminated.exitCode === 0)),
  );
  if (finished) return main.every((c) => c.state.terminated?.exitCode === 0) ? "Succeeded" : "Failed";
  return main.some((c) => c.restartCount > 0 || c.state.terminated) ? "Running" : "Pending";
}

/**
 * The Pod's status as the kubelet writes it: phase, IPs, the PodScheduled,
 * PodReadyToStartContainers, Initialized, ContainersReady and Ready
 * conditions, and every container's state. A condition's
 * lastTransitionTime changes only when its status does. Pure but for the
 * `transitions` map it updates.
 */
export function podStatus(pod: IPod, record: PodRecord): IPodStatus {
  const initialized = record.initContainers.every((c) => c.completed || (c.sidecar && c.started));
  const containersReady =
    initialized &&
    record.containers.every((c) => c.ready) &&
    record.initContainers.every((c) => !c.sidecar || c.ready);
  const condition = (type: string, ok: boolean, reason?: string): IPodCondition => {
    const status = ok ? "True" : "False";
    const seen = record.transitions.get(type);
    if (!seen || seen.status !== status) record.transitions.set(type, { status, time: record.now });
    return {
      type,
      status,
      lastTransitionTime: record.transitions.get(type)!.time,
      ...(ok || !reason ? {} : { reason }),
    };
  };
  const status: IPodStatus = {
    phase: phase(pod, record),
    hostIP: record.hostIP,
    hostIPs: [{ ip: record.hostIP }],
    startTime: record.startTime,
    conditions: [
      condition("PodReadyToStartContainers", Boolean(record.podIP)),
      condition("Initialized", initialized, "ContainersNotInitialized"),
      condition("Ready", containersReady, "ContainersNotReady"),
      condition("ContainersReady", containersReady, "ContainersNotReady"),
      condition("PodScheduled", true),
    ],
    initContainerStatuses: record.initContainers.map(containerStatus),
    containerStatuses: record.containers.map(containerStatus),
  };
  if (record.podIP) {
    status.podIP = record.podIP;
    status.podIPs = [{ ip: record.podIP }];
  }
  if (record.failed) {
    status.reason = record.failed.reason;
    status.message = record.failed.message;
  }
  return status;
}
