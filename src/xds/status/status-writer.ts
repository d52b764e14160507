import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { ServerSideApplier } from "../../k8s/apply.js";
import { applyStatusIfChanged, type StatusBody } from "../../k8s/status.js";
import type { PolicyKind } from "../../compile/findings.js";
import type { PipelineRun, PolicyObject } from "../pipeline.js";
import type { ProxyState } from "../server/proxy-state.js";
import type { LocalProgramming } from "./local-programming.js";
import { connectedProxyCount } from "./mesh-proxies.js";
import type { Programming } from "./programming.js";
import { mergedConnectedProxies, mergedProgramming, type PeerAnswer } from "./replica-merge.js";
import { inParallel } from "./in-parallel.js";
import type { StatusTarget } from "./targets.js";
import { whenToWrite } from "./write-rule.js";

export const STATUS_FIELD_MANAGER = "skiff/xds";

/** What the writer needs of the pipeline: its runs, and the policies and the Mesh as the informers hold them now. */
export interface CompiledPolicies {
  onRun(listener: (run: PipelineRun) => void): () => void;
  policy(kind: PolicyKind, namespace: string, name: string): PolicyObject | undefined;
  /** The Mesh whose configuration the proxies get. */
  activeMesh(): { metadata?: { name?: string }; status?: { connectedProxies?: number } } | undefined;
}

/** What the writer needs of the ADS server: the proxies connected now, and when that changes. */
export interface ConnectedProxies {
  proxies(): readonly ProxyState[];
  /** Whether every proxy has run `generation` or a newer one (AdsServer.everyProxyRan); cheap on every ACK. */
  everyProxyRan(generation: number): boolean | undefined;
  on(event: "connect" | "disconnect", listener: () => void): unknown;
  off(event: "connect" | "disconnect", listener: () => void): unknown;
}

/** The other xDS replicas: their reports (peer-replicas.ts), and when the set of them changes. */
export interface OtherReplicas {
  ask(): Promise<PeerAnswer[]>;
  onChange(listener: () => void): () => void;
}

/** How often other replicas are asked again: soon while a policy waits for proxies or a replica, else now and then. */
const PEER_POLL_MS = { unsettled: 2_000, settled: 10_000 };

/**
 * Status writes in flight at once. One at a time, 1000 policies took
 * seconds of round trips; past a dozen or so on a small control plane the
 * API server and etcd are the limit and more in flight only queue there,
 * while a writer that floods it would take API Priority and Fairness seats
 * the controllers and kubectl need.
 */
const WRITES_IN_FLIGHT = 16;

/**
 * Writes the status of TrafficPolicies, PeerAuthentications and
 * AuthorizationPolicies from the xDS server, the only place that knows both
 * what compile found and what the proxies answered, and the one field of the
 * Mesh's status that only it knows, connectedProxies (the Mesh reconciler
 * owns the rest; server-side apply keeps each field to its manager). It runs
 * in the xDS replica that holds the status Lease, after every pipeline run,
 * proxy answer, connection and disconnection, coalesced, and writes only what
 * changed, up to WRITES_IN_FLIGHT at once, when write-rule.ts says so:
 * progress alone (proxy counts) at most every few seconds per policy, and a
 * Programmed=Pending for a generation the proxies got less than a second ago
 * held back, so that Accepted and Programmed=True usually land in one write.
 *
 * With several replicas, each proxy is connected to one of them, and only
 * that one knows what it runs. So before each write the writer asks every
 * other replica for its report (its proxy count, and per policy the policy
 * generation it compiled and how its own proxies took it: replica-report.ts)
 * and writes the union (replica-merge.ts): connectedProxies over all
 * replicas that answered; a policy Programmed only when the proxies of every
 * replica run it, Nacked with the message of a NACK on any replica, Pending
 * while a replica has not compiled this generation of it, and Unknown when a
 * replica did not answer and what is known would make it True (the writer
 * never says True about proxies it could not hear from). Peers' proxies change without telling this
 * replica, so they are asked again every 2 s while a proxy or a replica has
 * yet to answer, every 10 s otherwise, and at once when the set of replicas
 * changes.
 */
export class PolicyStatusWriter {
  private readonly applier: ServerSideApplier;
  private timer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  /** Wakes the writer when a status it held back (write-rule.ts) is due. */
  private heldTimer: NodeJS.Timeout | undefined;
  /** When (performance.now()) this writer last wrote each policy's status. */
  private written = new Map<string, number>();
  /**
   * The status this writer last wrote of each policy, and the resourceVersion
   * it was written over: until the watch brings the write back, the informer
   * still holds that version, and the written status, not the informer's, is
   * what the policy has (a pass started in that gap wrote the same status
   * again, and each such write woke every watcher).
   */
  private sent = new Map<string, { readonly over: string | undefined; readonly status: StatusBody }>();
  private writing = Promise.resolve();
  /** A pass is chained behind the running one and has not started. */
  private passWaiting = false;
  private stopped = false;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    kubeConfig: KubeConfig,
    private readonly pipeline: CompiledPolicies,
    private readonly local: LocalProgramming,
    private readonly ads: ConnectedProxies,
    private readonly options: {
      logger: Logger;
      coalesceMs?: number;
      /** How long a new generation's Programmed=Pending is held (write-rule.ts; default PENDING_HOLD_MS). */
      pendingHoldMs?: number;
      /** Absent: this is the only replica. */
      otherReplicas?: OtherReplicas;
    },
  ) {
    this.applier = new ServerSideApplier(kubeConfig, STATUS_FIELD_MANAGER);
  }

  start(): void {
    // onRun calls at once with the latest run: the pipeline may have run before this replica took the Lease.
    this.unsubscribe.push(this.pipeline.onRun(() => this.schedule()));
    const onProxyChange = () => this.schedule();
    this.ads.on("connect", onProxyChange);
    this.ads.on("disconnect", onProxyChange);
    this.unsubscribe.push(() => {
      this.ads.off("connect", onProxyChange);
      this.ads.off("disconnect", onProxyChange);
    });
    const others = this.options.otherReplicas;
    if (others) this.unsubscribe.push(others.onChange(() => this.schedule()));
  }

  /**
   * Call after every ACK or NACK. The answer that brings the last proxy to
   * the latest run is written without the coalescing delay: nothing more is
   * coming to fold into it, and Programmed=True is what users wait for.
   */
  proxyAnswered(): void {
    const latest = this.local.latest;
    if (latest && this.ads.everyProxyRan(latest.generation)) this.schedule(0);
    else this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.pollTimer);
    clearTimeout(this.heldTimer);
    this.unsubscribe.forEach((u) => u());
    await this.writing;
  }

  private schedule(delayMs = this.options.coalesceMs ?? 100): void {
    if (this.stopped) return;
    if (this.timer) {
      if (delayMs > 0) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // A pass still waiting behind a running one will see this change too:
      // while writes are slow, passes must not pile up behind them.
      if (this.passWaiting) return;
      this.passWaiting = true;
      this.writing = this.writing.then(() => {
        this.passWaiting = false;
        return this.writeAll();
      });
    }, delayMs);
  }

  private async writeAll(): Promise<void> {
    if (!this.local.latest || this.stopped) return;
    const peers = (await this.options.otherReplicas?.ask()) ?? [];
    if (this.stopped) return;
    const proxies = this.ads.proxies();
    const now = performance.now();
    let unsettled = peers.some((peer) => "unreachable" in peer);
    let heldFor: number | undefined;
    const writes: (() => Promise<void>)[] = [];
    const written = new Map<string, number>();
    for (const target of this.local.targets(proxies)) {
      const programming = mergedProgramming(target.kind, target.source, target.programming, peers);
      unsettled ||= !settled(programming);
      const key = `${target.kind}/${target.source.namespace}/${target.source.name}`;
      const writtenAt = this.written.get(key);
      if (writtenAt !== undefined) written.set(key, writtenAt);
      const planned = this.plan(key, target, programming, now, writtenAt);
      if (planned === undefined) continue;
      if (typeof planned === "number") {
        heldFor = Math.min(heldFor ?? planned, planned);
        continue;
      }
      writes.push(async () => {
        await planned();
        written.set(key, performance.now());
      });
    }
    // Policies no longer in the run are forgotten.
    this.written = written;
    this.sent = new Map([...this.sent].filter(([key]) => written.has(key)));
    let failed = false;
    const connectedProxies = mergedConnectedProxies(connectedProxyCount(proxies), peers);
    await inParallel(
      [...writes, () => this.writeConnectedProxies(connectedProxies)],
      WRITES_IN_FLIGHT,
      async (write) => {
        try {
          await write();
        } catch (error) {
          failed = true;
          this.options.logger.warn({ err: error }, "writing status failed");
        }
      },
    );
    if (this.stopped) return;
    // A failed write is retried with the next change, or in a second at the latest.
    if (failed) setTimeout(() => this.schedule(), 1000);
    clearTimeout(this.heldTimer);
    if (heldFor !== undefined) this.heldTimer = setTimeout(() => this.schedule(), heldFor);
    if (this.options.otherReplicas) {
      clearTimeout(this.pollTimer);
      this.pollTimer = setTimeout(
        () => this.schedule(),
        unsettled ? PEER_POLL_MS.unsettled : PEER_POLL_MS.settled,
      );
    }
  }

  /** status.connectedProxies alone: the apply names no other field, so it owns no other. */
  private async writeConnectedProxies(connectedProxies: number): Promise<void> {
    const mesh = this.pipeline.activeMesh();
    const name = mesh?.metadata?.name;
    if (!name) return;
    const current: { connectedProxies?: number } =
      mesh.status?.connectedProxies === undefined ? {} : { connectedProxies: mesh.status.connectedProxies };
    const next: { connectedProxies: number } = { connectedProxies };
    await applyStatusIfChanged(
      this.applier,
      {
        apiVersion: "skiff.dev/v1alpha1",
        kind: "Mesh",
        metadata: { name },
        status: current,
      },
      next,
    );
  }

  /**
   * A policy's status write, if one is due now; how many milliseconds until
   * a held one is due; or undefined when there is nothing to write. `key`
   * names the policy in this writer's own records (written, sent).
   */
  private plan(
    key: string,
    target: StatusTarget,
    programming: Programming,
    now: number,
    writtenAt: number | undefined,
  ): (() => Promise<void>) | number | undefined {
    const { namespace, name, generation } = target.source;
    const current = this.pipeline.policy(target.kind, namespace, name);
    // The informer has a newer object than this run compiled: the next run will cover it.
    if (!current || (current.metadata.generation ?? 0) !== generation) return undefined;
    const sent = this.sent.get(key);
    const currentStatus =
      sent && sent.over === current.metadata.resourceVersion
        ? sent.status
        : ((current.status ?? {}) as StatusBody);
    const status = target.status(programming, currentStatus.conditions ?? [], new Date()) as StatusBody;
    const carriedAt = this.local.carriedAt(target.kind, target.source);
    const latestRunAt = this.local.latestAt;
    const decision = whenToWrite(
      currentStatus,
      status,
      {
        sinceCarriedMs: carriedAt === undefined ? undefined : now - carriedAt,
        sinceWrittenMs: writtenAt === undefined ? undefined : now - writtenAt,
        sinceLatestRunMs: latestRunAt === undefined ? undefined : now - latestRunAt,
      },
      this.options.pendingHoldMs,
    );
    if (!decision.write) return decision.retryInMs;
    return async () => {
      try {
        await applyStatusIfChanged(
          this.applier,
          {
            apiVersion: "skiff.dev/v1alpha1",
            kind: target.kind,
            metadata: { name, namespace },
            status: currentStatus,
          },
          status,
        );
      } catch (error) {
        throw new Error(`${target.kind} ${namespace}/${name}: ${(error as Error).message}`, { cause: error });
      }
      this.sent.set(key, { over: current.metadata.resourceVersion, status });
    };
  }
}

/** Whether a policy's programming waits on nothing: every proxy answered (ACK or NACK), every replica too. */
const settled = (p: Programming) =>
  p.acked + p.nacked >= p.targeted && !p.behind?.length && !p.unheard?.length;
