import type { PolicyKind } from "../../compile/findings.js";
import type { PolicySource } from "../../ir/source.js";
import type { PipelineRun } from "../pipeline.js";
import type { ProxyState } from "../server/proxy-state.js";
import { connectedProxyCount } from "./mesh-proxies.js";
import type { ReplicaReport } from "./replica-report.js";
import { statusTargets, type StatusTarget } from "./targets.js";

/**
 * What this replica's own pipeline runs mean for policy status: the latest
 * run, and for each policy the first pipeline generation of this replica
 * that carried its current generation (a proxy has the policy once it runs
 * that generation or a newer one). Kept in every replica, status writer or
 * not: the writer asks the others for their report.
 */
export class LocalProgramming {
  /** For each policy, its generation and the first pipeline generation that carried it. */
  private readonly carried = new Map<string, { generation: number; pipelineGeneration: number }>();
  private latestRun: PipelineRun | undefined;

  /** Call with every pipeline run. */
  observe(run: PipelineRun): void {
    this.latestRun = run;
    const sources: [PolicyKind, PolicySource][] = [
      ...run.result.findings.map((f): [PolicyKind, PolicySource] => [f.kind, f.source]),
      ...run.result.securityFindings.map((f): [PolicyKind, PolicySource] => [f.kind, f.source]),
    ];
    for (const [kind, source] of sources) {
      const key = `${kind}/${source.namespace}/${source.name}`;
      if (this.carried.get(key)?.generation !== source.generation)
        this.carried.set(key, { generation: source.generation, pipelineGeneration: run.generation });
    }
  }

  get latest(): PipelineRun | undefined {
    return this.latestRun;
  }

  /** Every policy of the latest run, with how `proxies` (this replica's) have taken it. */
  targets(proxies: readonly ProxyState[]): StatusTarget[] {
    const run = this.latestRun;
    if (!run) return [];
    const carriedSince = (kind: PolicyKind, source: PolicySource) =>
      this.carried.get(`${kind}/${source.namespace}/${source.name}`)?.pipelineGeneration ?? run.generation;
    return statusTargets(run.result, carriedSince, proxies);
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
