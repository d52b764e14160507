/**
 * B2, convergence: one change at a time, written to the real API server,
 * timed from the write to the moment the last of the N proxies ACKed a
 * response carrying it. The next change waits until the change is done with:
 * for a policy, its status says Programmed; then the xDS server is quiet.
 */
import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import { Informer } from "../../../src/k8s/informer.js";
import { cpuSeconds } from "../shared/proc.js";
import { unixMs } from "./clock.js";
import type { Change, ChangeKind } from "./changes.js";
import { NAMESPACE } from "./cluster.js";
import type { Expected, Load, Received } from "./load.js";
import { holdsNow, type PolicyObject } from "./policy-status.js";
import { scrape, waitIdle, type XdsProcess } from "./xds-process.js";

export interface ChangeSample {
  kind: ChangeKind;
  id: string;
  /** Not in the statistics: the first change of each kind after the proxies connected. */
  warmup: boolean;
  /** Just before the write request was sent, and when its response arrived (Unix ms). */
  writeSentUnixMs: number;
  writeAnsweredUnixMs: number;
  /** When the benchmark's own watch on the kind delivered the written version (Unix ms). */
  watchUnixMs: number | undefined;
  expected: Expected;
  /** Policy changes: when the watch saw Programmed=True for the written generation (Unix ms). */
  programmedUnixMs?: number | undefined;
  /** skiff_xds_convergence_seconds observed from the write until the server was quiet: how many, and their sum. */
  serverConvergences: number;
  serverConvergenceSumS: number;
  /** xDS responses the server sent from the write until it was quiet, all proxies (skiff_xds_pushes_total). */
  pushes: number;
  /** What the proxies received from the write until the server was quiet. */
  received: Received;
  /** Writes to TrafficPolicies that left their spec alone (status), seen by the watch from the write until quiet. */
  policyStatusWrites: number;
  /** CPU the xDS server used from the write to the last ACK. */
  serverCpuMs: number;
  /** Whether the server went quiet before the next change (it is given 30 s). */
  settled: boolean;
}

/** Watches the kinds B2 writes: when each resourceVersion arrived, and when a policy generation was Programmed. */
export class WriteWatch {
  private readonly slices: Informer;
  private readonly policies: Informer<PolicyObject>;
  private readonly arrived = new Map<string, number>();
  private readonly programmed = new Map<string, number>();
  private readonly waiters = new Set<() => void>();
  /** TrafficPolicy updates that kept the generation: status writes. */
  statusWrites = 0;

  constructor(kubeConfig: KubeConfig) {
    this.slices = new Informer(kubeConfig, "discovery.k8s.io/v1", "EndpointSlice", { namespace: NAMESPACE });
    this.policies = new Informer<PolicyObject>(kubeConfig, "skiff.dev/v1alpha1", "TrafficPolicy", {
      namespace: NAMESPACE,
    });
  }

  async start(): Promise<void> {
    await Promise.all([this.slices.start(), this.policies.start()]);
    const arrived = (object: KubernetesObject) => {
      const version = object.metadata?.resourceVersion;
      if (version && !this.arrived.has(version)) this.arrived.set(version, unixMs());
    };
    this.slices.on((event) => arrived(event.object));
    this.policies.on((event) => {
      arrived(event.object);
      if (event.type === "update" && event.old.metadata.generation === event.object.metadata.generation)
        this.statusWrites += 1;
      const key = `${event.object.metadata.name}@${event.object.metadata.generation}`;
      // A policy created again (a later mode's run) starts its generations over.
      if (event.type === "delete")
        for (const seen of [...this.programmed.keys()])
          if (seen.startsWith(`${event.object.metadata.name}@`)) this.programmed.delete(seen);
      if (event.type !== "delete" && !this.programmed.has(key) && holdsNow(event.object, "Programmed")) {
        this.programmed.set(key, unixMs());
        for (const wake of this.waiters) wake();
      }
    });
  }

  arrivedAt(resourceVersion: string): number | undefined {
    return this.arrived.get(resourceVersion);
  }

  /** When the policy's generation was first seen Programmed=True; undefined if not within timeoutMs. */
  async programmedAt(name: string, generation: number, timeoutMs: number): Promise<number | undefined> {
    const key = `${name}@${generation}`;
    const deadline = Date.now() + timeoutMs;
    while (!this.programmed.has(key) && Date.now() < deadline) {
      let wake = () => {};
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        wake = resolve;
        this.waiters.add(wake);
        timer = setTimeout(resolve, deadline - Date.now());
      });
      // A pending timer would keep the benchmark alive after its report.
      clearTimeout(timer);
      this.waiters.delete(wake);
    }
    return this.programmed.get(key);
  }

  stop(): void {
    this.slices.stop();
    this.policies.stop();
  }
}

const CONVERGENCE_SUM = "skiff_xds_convergence_seconds_sum";
const CONVERGENCE_COUNT = "skiff_xds_convergence_seconds_count";
const pushTotal = (samples: Map<string, number>) =>
  [...samples].filter(([k]) => k.startsWith("skiff_xds_pushes_total")).reduce((n, [, v]) => n + v, 0);

export async function measureChange(
  change: Change,
  warmup: boolean,
  load: Load,
  xds: XdsProcess,
  watch: WriteWatch,
  timeoutMs: number,
): Promise<ChangeSample> {
  await load.arm(change.id, change.marker);
  const before = await scrape(xds.metricsUrl);
  await load.window();
  const statusWrites0 = watch.statusWrites;
  const cpu0 = cpuSeconds(xds.child.pid);
  const writeSentUnixMs = unixMs();
  const written = await change.write();
  const writeAnsweredUnixMs = unixMs();
  const expected = await load.expected(change.id, timeoutMs);
  const serverCpuMs = (cpuSeconds(xds.child.pid) - cpu0) * 1000;
  const programmedUnixMs =
    change.kind === "policy"
      ? await watch.programmedAt(written.metadata!.name!, written.metadata!.generation!, timeoutMs)
      : undefined;
  // The server observes its own convergence only once it has processed the last ACK, so read it when quiet.
  const settled = await waitIdle(xds.child.pid);
  const after = await scrape(xds.metricsUrl);
  const received = await load.window();
  const delta = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
  return {
    kind: change.kind,
    id: change.id,
    warmup,
    writeSentUnixMs,
    writeAnsweredUnixMs,
    watchUnixMs: watch.arrivedAt(written.metadata!.resourceVersion!),
    expected,
    ...(change.kind === "policy" ? { programmedUnixMs } : {}),
    serverConvergences: delta(CONVERGENCE_COUNT),
    serverConvergenceSumS: delta(CONVERGENCE_SUM),
    pushes: pushTotal(after) - pushTotal(before),
    received,
    policyStatusWrites: watch.statusWrites - statusWrites0,
    serverCpuMs,
    settled,
  };
}
