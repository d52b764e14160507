import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { TrafficPolicyStatus } from "../../api/v1alpha1/generated/trafficpolicy.js";
import type { PolicyFindings } from "../../compile/findings.js";
import { ServerSideApplier } from "../../k8s/apply.js";
import { canonicalJson } from "../../k8s/canonical.js";
import { sameConditions, type Condition } from "../../k8s/conditions.js";
import type { XdsPipeline, PipelineRun } from "../../xds/pipeline.js";
import { programmingOf } from "../../xds/programming.js";
import type { AdsServer } from "../../xds/server/ads-server.js";
import { trafficPolicyStatus } from "./status.js";

export const STATUS_FIELD_MANAGER = "skiff/xds";

/**
 * Writes TrafficPolicy status from the xDS server, which is the only place
 * that knows both what compile found and what the proxies answered. It runs
 * in the xDS replica that holds the status Lease, after every pipeline run
 * and every proxy answer, coalesced, and writes only what changed.
 */
export class TrafficPolicyStatusWriter {
  private readonly applier: ServerSideApplier;
  /** For each policy, its generation and the first pipeline generation that carried it. */
  private readonly carriedSince = new Map<string, { generation: number; pipelineGeneration: number }>();
  private latest: PipelineRun | undefined;
  private timer: NodeJS.Timeout | undefined;
  private writing = Promise.resolve();
  private stopped = false;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    kubeConfig: KubeConfig,
    private readonly pipeline: XdsPipeline,
    private readonly ads: AdsServer,
    private readonly options: { logger: Logger; coalesceMs?: number },
  ) {
    this.applier = new ServerSideApplier(kubeConfig, STATUS_FIELD_MANAGER);
  }

  start(): void {
    this.unsubscribe.push(
      this.pipeline.onRun((run) => {
        this.latest = run;
        for (const found of run.result.findings) {
          const key = `${found.source.namespace}/${found.source.name}`;
          if (this.carriedSince.get(key)?.generation !== found.source.generation)
            this.carriedSince.set(key, {
              generation: found.source.generation,
              pipelineGeneration: run.generation,
            });
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
    const proxies = this.ads.proxies();
    let failed = false;
    for (const found of run.result.findings) {
      try {
        await this.write(found, run, proxies);
      } catch (error) {
        failed = true;
        this.options.logger.warn({ err: error, policy: found.source }, "writing TrafficPolicy status failed");
      }
    }
    // A failed write is retried with the next change, or in a second at the latest.
    if (failed && !this.stopped) setTimeout(() => this.schedule(), 1000);
  }

  private async write(found: PolicyFindings, run: PipelineRun, proxies: ReturnType<AdsServer["proxies"]>) {
    const { namespace, name } = found.source;
    const current = this.pipeline.trafficPolicy(namespace, name);
    // The informer has a newer object than this run compiled: the next run will cover it.
    if (!current || (current.metadata.generation ?? 0) !== found.source.generation) return;
    const service = run.result.model.services.find(
      (s) => s.namespace === namespace && s.name === current.spec.targetRef.name,
    );
    const since = this.carriedSince.get(`${namespace}/${name}`)?.pipelineGeneration ?? run.generation;
    const programming = service
      ? programmingOf(service, since, proxies)
      : { targeted: 0, acked: 0, nacked: 0, lastNackMessage: "" };
    const previous = (current.status?.conditions ?? []) as Condition[];
    const status: TrafficPolicyStatus = trafficPolicyStatus(found, programming, previous, new Date());
    const unchanged =
      sameConditions(previous, status.conditions as Condition[]) &&
      canonicalJson({ ...current.status, conditions: undefined }) ===
        canonicalJson({ ...status, conditions: undefined });
    if (unchanged) return;
    await this.applier.apply(
      {
        apiVersion: "skiff.dev/v1alpha1",
        kind: "TrafficPolicy",
        metadata: { name, namespace },
        status,
      } as KubernetesObject,
      { subresource: "status" },
    );
  }
}
