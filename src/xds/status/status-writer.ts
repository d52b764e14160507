import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { ServerSideApplier } from "../../k8s/apply.js";
import { applyStatusIfChanged, type StatusBody } from "../../k8s/status.js";
import type { PolicySource } from "../../ir/source.js";
import type { PolicyKind } from "../../compile/findings.js";
import type { PipelineRun, PolicyObject } from "../pipeline.js";
import type { ProxyState } from "../server/proxy-state.js";
import { connectedProxyCount } from "./mesh-proxies.js";
import { statusTargets, type StatusTarget } from "./targets.js";

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
  on(event: "connect" | "disconnect", listener: () => void): unknown;
  off(event: "connect" | "disconnect", listener: () => void): unknown;
}

/**
 * Writes the status of TrafficPolicies, PeerAuthentications and
 * AuthorizationPolicies from the xDS server, the only place that knows both
 * what compile found and what the proxies answered, and the one field of the
 * Mesh's status that only it knows, connectedProxies (the Mesh reconciler
 * owns the rest; server-side apply keeps each field to its manager). It runs
 * in the xDS replica that holds the status Lease, after every pipeline run,
 * proxy answer, connection and disconnection, coalesced, and writes only what
 * changed. With several replicas it counts its own proxies only.
 */
export class PolicyStatusWriter {
  private readonly applier: ServerSideApplier;
  /** For each policy, its generation and the first pipeline generation that carried it. */
  private readonly carried = new Map<string, { generation: number; pipelineGeneration: number }>();
  private latest: PipelineRun | undefined;
  private timer: NodeJS.Timeout | undefined;
  private writing = Promise.resolve();
  private stopped = false;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    kubeConfig: KubeConfig,
    private readonly pipeline: CompiledPolicies,
    private readonly ads: ConnectedProxies,
    private readonly options: { logger: Logger; coalesceMs?: number },
  ) {
    this.applier = new ServerSideApplier(kubeConfig, STATUS_FIELD_MANAGER);
  }

  start(): void {
    this.unsubscribe.push(
      this.pipeline.onRun((run) => {
        this.latest = run;
        const sources: [PolicyKind, PolicySource][] = [
          ...run.result.findings.map((f): [PolicyKind, PolicySource] => [f.kind, f.source]),
          ...run.result.securityFindings.map((f): [PolicyKind, PolicySource] => [f.kind, f.source]),
        ];
        for (const [kind, source] of sources) {
          const key = `${kind}/${source.namespace}/${source.name}`;
          if (this.carried.get(key)?.generation !== source.generation)
            this.carried.set(key, { generation: source.generation, pipelineGeneration: run.generation });
        }
        this.schedule();
      }),
    );
    const onProxyChange = () => this.schedule();
    this.ads.on("connect", onProxyChange);
    this.ads.on("disconnect", onProxyChange);
    this.unsubscribe.push(() => {
      this.ads.off("connect", onProxyChange);
      this.ads.off("disconnect", onProxyChange);
    });
  }

  /** Call after every ACK or NACK. */
  proxyAnswered(): void {
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.unsubscribe.forEach((u) => u());
    await this.writing;
  }

  private schedule(): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.writing = this.writing.then(() => this.writeAll());
    }, this.options.coalesceMs ?? 100);
  }

  private async writeAll(): Promise<void> {
    const run = this.latest;
    if (!run || this.stopped) return;
    const carriedSince = (kind: PolicyKind, source: PolicySource) =>
      this.carried.get(`${kind}/${source.namespace}/${source.name}`)?.pipelineGeneration ?? run.generation;
    let failed = false;
    for (const target of statusTargets(run.result, carriedSince, this.ads.proxies())) {
      try {
        await this.write(target);
      } catch (error) {
        failed = true;
        this.options.logger.warn(
          { err: error, kind: target.kind, policy: target.source },
          "writing a policy's status failed",
        );
      }
    }
    try {
      await this.writeConnectedProxies();
    } catch (error) {
      failed = true;
      this.options.logger.warn({ err: error }, "writing the Mesh's connectedProxies failed");
    }
    // A failed write is retried with the next change, or in a second at the latest.
    if (failed && !this.stopped) setTimeout(() => this.schedule(), 1000);
  }

  /** status.connectedProxies alone: the apply names no other field, so it owns no other. */
  private async writeConnectedProxies(): Promise<void> {
    const mesh = this.pipeline.activeMesh();
    const name = mesh?.metadata?.name;
    if (!name) return;
    const current: { connectedProxies?: number } =
      mesh.status?.connectedProxies === undefined ? {} : { connectedProxies: mesh.status.connectedProxies };
    const next: { connectedProxies: number } = { connectedProxies: connectedProxyCount(this.ads.proxies()) };
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

  private async write(target: StatusTarget): Promise<void> {
    const { namespace, name, generation } = target.source;
    const current = this.pipeline.policy(target.kind, namespace, name);
    // The informer has a newer object than this run compiled: the next run will cover it.
    if (!current || (current.metadata.generation ?? 0) !== generation) return;
    const currentStatus = (current.status ?? {}) as StatusBody;
    const status = target.status(currentStatus.conditions ?? [], new Date()) as StatusBody;
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
  }
}
