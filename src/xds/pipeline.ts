import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import type { IEndpointSlice } from "kubernetes-models/discovery.k8s.io/v1";
import type { INamespace, IPod, IService } from "kubernetes-models/v1";
import type { Logger } from "pino";
import type { Mesh } from "../api/v1alpha1/generated/mesh.js";
import type { AuthorizationPolicy } from "../api/v1alpha1/generated/authorizationpolicy.js";
import type { PeerAuthentication } from "../api/v1alpha1/generated/peerauthentication.js";
import type { TrafficPolicy } from "../api/v1alpha1/generated/trafficpolicy.js";
import { CompileCache } from "../compile/cache.js";
import { compile, type CompileResult } from "../compile/compile.js";
import type { PolicyKind } from "../compile/findings.js";
import { activeMesh } from "../mesh/singleton.js";
import { Informer } from "../k8s/informer.js";
import type { ClusterState } from "../compile/state.js";
import { ChangeCoalescer } from "./change-coalescer.js";
import { buildIsolating, rejectionKey, withRejected, type RejectedPolicy } from "./isolation.js";
import { onlyStatusChanged } from "./status-updates.js";
import { MeshSnapshots } from "./cache/mesh-snapshots.js";
import { TranslateMemo } from "./translate/memo.js";
import { translate, type MeshResources } from "./translate/translate.js";
import { meshIdentity } from "../mesh/defaults.js";

export type PolicyObject = TrafficPolicy | PeerAuthentication | AuthorizationPolicy;

/** One run of compile and translate, published to the proxies. */
export interface PipelineRun {
  readonly generation: number;
  readonly result: CompileResult;
  /** When the earliest cluster change folded into this run was seen (performance.now()). */
  readonly changeSeenAt: number;
}

export interface PipelineOptions {
  logger: Logger;
  /** After a run, the longest a change waits for others to coalesce with it. */
  debounceMs?: number;
}

type Obj<T> = T & KubernetesObject;

/**
 * informers -> compile -> translate -> cache. Changes are coalesced (see
 * ChangeCoalescer): a change after a quiet period runs at once, later ones
 * are folded into at most one run per debounceMs. A run always reads the whole
 * state from the informer caches, so it never depends on which events came;
 * what it costs does: compile and translate reuse, by object identity, what
 * the previous run built for the objects no event replaced (CompileCache,
 * TranslateMemo), and the cache encodes only the resources that are new.
 */
export class XdsPipeline {
  readonly snapshots = new MeshSnapshots();
  private readonly informers;
  private readonly runListeners = new Set<(run: PipelineRun) => void>();
  private readonly coalescer: ChangeCoalescer;
  private readonly compileCache = new CompileCache();
  private readonly translateMemo = new TranslateMemo();
  private stopped = false;
  private latest: PipelineRun | undefined;
  /** The policies the last run left out (rejectionKey), tried last in the next. */
  private rejected = new Set<string>();

  constructor(
    kubeConfig: KubeConfig,
    private readonly options: PipelineOptions,
  ) {
    this.coalescer = new ChangeCoalescer(options.debounceMs ?? 50, (seenAt) => this.run(seenAt));
    this.informers = {
      meshes: new Informer<Obj<Mesh>>(kubeConfig, "skiff.dev/v1alpha1", "Mesh"),
      namespaces: new Informer<Obj<INamespace>>(kubeConfig, "v1", "Namespace"),
      services: new Informer<Obj<IService>>(kubeConfig, "v1", "Service"),
      endpointSlices: new Informer<Obj<IEndpointSlice>>(kubeConfig, "discovery.k8s.io/v1", "EndpointSlice"),
      pods: new Informer<Obj<IPod>>(kubeConfig, "v1", "Pod"),
      trafficPolicies: new Informer<Obj<TrafficPolicy>>(kubeConfig, "skiff.dev/v1alpha1", "TrafficPolicy"),
      peerAuthentications: new Informer<Obj<PeerAuthentication>>(
        kubeConfig,
        "skiff.dev/v1alpha1",
        "PeerAuthentication",
      ),
      authorizationPolicies: new Informer<Obj<AuthorizationPolicy>>(
        kubeConfig,
        "skiff.dev/v1alpha1",
        "AuthorizationPolicy",
      ),
    };
  }

  /** Starts the informers and resolves after the first run has been published. */
  async start(): Promise<void> {
    const all = Object.values(this.informers) as Informer[];
    try {
      await Promise.all(all.map((i) => i.start()));
    } catch (error) {
      all.forEach((i) => i.stop());
      throw error;
    }
    const { meshes, trafficPolicies, peerAuthentications, authorizationPolicies } = this.informers;
    const ownKinds = new Set<unknown>([meshes, trafficPolicies, peerAuthentications, authorizationPolicies]);
    for (const informer of all) {
      const own = ownKinds.has(informer);
      informer.on((event) => {
        if (!(own && onlyStatusChanged(event))) this.changed();
      });
    }
    this.run(performance.now());
  }

  stop(): void {
    this.stopped = true;
    this.coalescer.stop();
    for (const informer of Object.values(this.informers) as Informer[]) informer.stop();
  }

  /**
   * The Mesh whose root namespace is `namespace`, where an xDS server runs
   * and reads its CA; the Mesh in force when none names it.
   */
  meshRootedIn(namespace: string): Mesh | undefined {
    return (
      this.informers.meshes
        .list()
        .find((m) => !m.metadata?.deletionTimestamp && meshIdentity(m).rootNamespace === namespace) ??
      this.activeMesh()
    );
  }

  /** The Mesh in force: the oldest one not being deleted. */
  activeMesh(): Mesh | undefined {
    return activeMesh(this.informers.meshes.list());
  }

  /** A policy as last seen, with its current status. */
  policy(kind: PolicyKind, namespace: string, name: string): PolicyObject | undefined {
    const informer = {
      TrafficPolicy: this.informers.trafficPolicies,
      PeerAuthentication: this.informers.peerAuthentications,
      AuthorizationPolicy: this.informers.authorizationPolicies,
    }[kind] as Informer<Obj<PolicyObject>>;
    return informer.get(namespace, name);
  }

  /** Calls listener after every run, and at once with the latest run if there was one. */
  onRun(listener: (run: PipelineRun) => void): () => void {
    this.runListeners.add(listener);
    if (this.latest) listener(this.latest);
    return () => this.runListeners.delete(listener);
  }

  private changed(): void {
    if (!this.stopped) this.coalescer.changed();
  }

  private run(changeSeenAt: number): void {
    try {
      this.publish(changeSeenAt);
    } catch (error) {
      // A bug in compile or translate must not take down the proxies' config
      // source: they keep the last good generation, and the error is loud.
      this.options.logger.error(
        { err: error },
        "compiling the mesh failed; proxies keep the previous configuration",
      );
    }
  }

  private publish(changeSeenAt: number): void {
    const started = performance.now();
    const active = this.activeMesh();
    const state: ClusterState = {
      ...(active ? { mesh: active } : {}),
      namespaces: this.informers.namespaces.list(),
      services: this.informers.services.list(),
      endpointSlices: this.informers.endpointSlices.list(),
      pods: this.informers.pods.list(),
      trafficPolicies: this.informers.trafficPolicies.list(),
      peerAuthentications: this.informers.peerAuthentications.list(),
      authorizationPolicies: this.informers.authorizationPolicies.list(),
    };
    // compile and translate stay pure; which objects a run leaves out is decided here, and only here.
    const build = (s: ClusterState): { result: CompileResult; resources: MeshResources } => {
      const result = compile(s, this.compileCache);
      const resources = translate(result.model, this.translateMemo);
      this.snapshots.encode(resources);
      return { result, resources };
    };
    const { built, rejected } = buildIsolating(state, build, this.rejected);
    this.reportRejected(rejected);
    const result = withRejected(built.result, rejected);
    const generation = this.snapshots.publish(built.resources);
    this.latest = { generation, result, changeSeenAt };
    this.options.logger.debug(
      { generation, services: result.model.services.length, ms: Math.round(performance.now() - started) },
      "published a new xDS generation",
    );
    for (const listener of this.runListeners) listener(this.latest);
  }

  /** Logs the policies a run left out when that set changes; their status says why. */
  private reportRejected(rejected: readonly RejectedPolicy[]): void {
    const keys = new Set(rejected.map((r) => rejectionKey(r.kind, r.source)));
    const changed = keys.size !== this.rejected.size || [...keys].some((k) => !this.rejected.has(k));
    this.rejected = keys;
    if (changed && rejected.length > 0)
      this.options.logger.error(
        { rejected: rejected.map((r) => ({ kind: r.kind, ...r.source, error: r.message })) },
        "left out policies that cannot be turned into proxy configuration; everything else is published",
      );
  }
}
