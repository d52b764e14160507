import type { PolicyKind } from "../../compile/findings.js";
import type { PolicySource } from "../../ir/source.js";
import type { PipelineRun } from "../pipeline.js";
import type { ProxyState } from "../server/proxy-state.js";
import { connectedProxyCount } from "./mesh-proxies.js";
import { ProxyIndex } from "./proxy-index.js";
import type { ReplicaReport } from "./replica-report.js";
import { statusTargets, type StatusTarget } from "./targets.js";

/** When a policy's current generation was first carried by a pipeline run of this replica. */
interface Carried {
  readonly generation: number;
  readonly pipelineGeneration: number;
  /** performance.now() when that run was observed. */
  readonly at: number;
}

/**
 * What this replica's own pipeline runs mean for policy status: the latest
 * run, and for each policy the first pipeline generation of this replica
 * that carried its current generation (a proxy has the policy once it runs
 * that generation or a newer one), and when. Kept in every replica, status
 * writer or not: the writer asks the others for their report.
 */
export class LocalProgramming {
  private carried = new Map<string, Carried>();
  private latestRun: PipelineRun | undefined;
  private latestRunAt: number | undefined;

  /** Call with every pipeline run. */
  observe(run: PipelineRun): void {
    this.latestRun = run;
    this.latestRunAt = performance.now();
    const sources: [PolicyKind, PolicySource][] = [
      ...run.result.findings.map((f): [PolicyKind, PolicySource] => [f.kind, f.source]),
      ...run.result.securityFindings.map((f): [PolicyKind, PolicySource] => [f.kind, f.source]),
    ];
    // Policies the run no longer has are forgotten with the old map.
    const next = new Map<string, Carried>();
    const at = performance.now();
    for (const [kind, source] of sources) {
      const key = policyKey(kind, source);
      const kept = this.carried.get(key);
      next.set(
        key,
        kept?.generation === source.generation
          ? kept
          : { generation: source.generation, pipelineGeneration: run.generation, at },
      );
    }
    this.carried = next;
  }

  get latest(): PipelineRun | undefined {
    return this.latestRun;
  }

  /** When (performance.now()) the latest run was observed; undefined before the first. */
  get latestAt(): number | undefined {
    return this.latestRunAt;
  }

  /** When (performance.now()) a run first carried the policy's generation; undefined if none has. */
  carriedAt(kind: PolicyKind, source: PolicySource): number | undefined {
    const carried = this.carried.get(policyKey(kind, source));
    return carried?.generation === source.generation ? carried.at : undefined;
  }

  /** Every policy of the latest run, with how `proxies` (this replica's) have taken it. */
  targets(proxies: readonly ProxyState[]): StatusTarget[] {
    const run = this.latestRun;
    if (!run) return [];
    const carriedSince = (kind: PolicyKind, source: PolicySource) =>
      this.carried.get(policyKey(kind, source))?.pipelineGeneration ?? run.generation;
    return statusTargets(run.result, carriedSince, new ProxyIndex(proxies));
  }

  /** What this replica answers the status writer (replica-report.ts). */
  report(proxies: readonly ProxyState[]): ReplicaReport {
    return {
      connectedProxies: connectedProxyCount(proxies),
      policies: this.targets(proxies).map((t) => ({
        kind: t.kind,
        namespace: t.source.namespace,
        name: t.source.name,
        generation: t.source.generation,
        programming: t.programming,
      })),
    };
  }
}

const policyKey = (kind: PolicyKind, source: PolicySource) => `${kind}/${source.namespace}/${source.name}`;
