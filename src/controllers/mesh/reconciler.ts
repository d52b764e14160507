import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { Certificate } from "../../api/certmanager/v1/generated/certificate.js";
import type { Mesh, MeshStatus } from "../../api/v1alpha1/generated/mesh.js";
import { ServerSideApplier } from "../../k8s/apply.js";
import { ApplyIfChanged } from "../../k8s/apply-if-changed.js";
import { conditionTransitionEvents, type EventRecorder, type EventSpec } from "../../k8s/events.js";
import { replaceConditions, type Condition, type DesiredCondition } from "../../k8s/conditions.js";
import { apiPath, KindNotServedError, KubernetesApiError, RestClient } from "../../k8s/rest.js";
import { applyStatusIfChanged } from "../../k8s/status.js";
import { selectorMatches, selectorProblems, type LabelSelector } from "../../k8s/selector.js";
import type { HandlerResult } from "../../k8s/workqueue.js";
import { inspectCa } from "../../pki/inspect.js";
import {
  desiredControlPlane,
  desiredNamespaceConfig,
  meshSettings,
  xdsAddress,
  type MeshSettings,
} from "./desired.js";
import { GENERATED_OBJECTS, type GeneratedObject } from "./generated.js";
import { controlPlaneIssues, sidecarIssues } from "./issues.js";
import { caExpiryFlipInMs } from "./ca-expiry.js";
import { FIELD_MANAGER, MESH_FINALIZER } from "./names.js";
import { BuiltinCertificateAuthority, type CaObservation } from "./builtin-ca.js";
import type { MeshCache, Secret } from "./cache.js";
import { OwnStatusWrites } from "./own-status-updates.js";
import { DEFAULT_ROOT_TRUST_PERIOD_MS } from "./lost-ca.js";
import { activeMeshOtherThan } from "../../mesh/singleton.js";
import { meshStatus, reconcileFailedStatus, reconcilerOwnedStatus, type MeshObservation } from "./status.js";
import { MANAGED_BY_LABEL } from "../../mesh/annotations.js";
import { CERT_MANAGER_SECRET, XDS_NAME } from "../../mesh/names.js";

/**
 * Failures in a row before Ready says so. A one-off failure (a write that
 * lost a compare-and-swap) is retried within milliseconds and would only
 * flap the condition; three in a row, about 35 ms apart, are not one-off.
 */
const REPORT_AFTER_FAILURES = 3;

const decode = (b64: string | undefined) =>
  b64 === undefined ? undefined : Buffer.from(b64, "base64").toString("utf8");
const identity = (o: KubernetesObject) =>
  `${o.apiVersion}/${o.kind}/${o.metadata?.namespace ?? ""}/${o.metadata?.name}`;

export interface MeshReconcilerOptions {
  /** The image the operator runs, used for the xDS server when the Mesh names none. */
  operatorImage: string;
  /** Records significant transitions as Events; optional so tests of other behaviour need none. */
  events?: EventRecorder;
  now?: () => Date;
  /** How long a regenerated root is trusted before it signs (default DEFAULT_ROOT_TRUST_PERIOD_MS). */
  rootTrustPeriodMs?: number;
}

/**
 * Reconciles one Mesh: the CA, the xDS server, the per-namespace ConfigMaps,
 * the finalizer and the status. It reads everything it needs, computes the
 * desired objects with pure functions, applies them, and prunes what it made
 * before but no longer wants; it never branches on the event that woke it.
 *
 * It reads the Mesh itself from the API server (one GET: its status is what
 * the next status is computed from, and a cache could lag behind our own last
 * write), and everything else from the controller's informer caches
 * (MeshCache), writing only what differs from them. A steady-state
 * reconcile therefore costs one request. Where a cache that lags would do
 * harm, the API server is asked: a CA Secret the cache lacks (it is created
 * at most once, and a lost one is reported), and the objects to delete when
 * the Mesh goes away (a cache that has not seen a new object yet would leave
 * it behind).
 */
export class MeshReconciler {
  private readonly rest: RestClient;
  private readonly applier: ServerSideApplier;
  private readonly generated: ApplyIfChanged;
  private readonly now: () => Date;
  private readonly builtinCa: BuiltinCertificateAuthority;
  /** The status writes of this reconciler, whose echoes the controller need not reconcile. */
  readonly statusWrites = new OwnStatusWrites();
  /** Consecutive failed reconciles per Mesh; in memory, so a restart starts counting again. */
  private readonly failures = new Map<string, number>();

  constructor(
    kubeConfig: KubeConfig,
    private readonly cache: MeshCache,
    private readonly options: MeshReconcilerOptions,
  ) {
    this.rest = new RestClient(kubeConfig);
    this.applier = new ServerSideApplier(kubeConfig, FIELD_MANAGER);
    this.generated = new ApplyIfChanged(this.applier);
    this.now = options.now ?? (() => new Date());
    this.builtinCa = new BuiltinCertificateAuthority(this.rest, {
      caSecret: (namespace, name) => this.caSecret(namespace, name),
      now: this.now,
      rootTrustPeriodMs: options.rootTrustPeriodMs ?? DEFAULT_ROOT_TRUST_PERIOD_MS,
      event: (mesh, log, event) => this.event(mesh, log, event),
    });
  }

  /**
   * One reconcile of the Mesh `name`. A failure is thrown (the queue retries
   * with backoff), and once it has happened REPORT_AFTER_FAILURES times in a
   * row it is also said in the Mesh's Ready condition: a mesh that cannot
   * converge must not keep looking healthy. The first success clears it.
   */
  async reconcile(name: string, log: Logger): Promise<HandlerResult> {
    try {
      const result = await this.reconcileMesh(name, log);
      this.failures.delete(name);
      return result;
    } catch (error) {
      const failures = (this.failures.get(name) ?? 0) + 1;
      this.failures.set(name, failures);
      if (failures >= REPORT_AFTER_FAILURES) await this.reportFailure(name, error, log);
      throw error;
    }
  }

  private async reconcileMesh(name: string, log: Logger): Promise<HandlerResult> {
    const mesh = await this.rest.getIfExists<Mesh>(apiPath`/apis/skiff.dev/v1alpha1/meshes/${name}`);
    if (!mesh) return; // deleted; the finalizer already cleaned up

    const finalizers = mesh.metadata.finalizers ?? [];
    if (mesh.metadata.deletionTimestamp) {
      if (!finalizers.includes(MESH_FINALIZER)) return;
      const removed = await this.prune(await this.listManaged(name), new Set());
      log.info({ removed }, "mesh deleted: removed generated objects");
      await this.setFinalizers(
        mesh,
        finalizers.filter((f) => f !== MESH_FINALIZER),
      );
      return;
    }

    const active = activeMeshOtherThan(name, this.cache.meshes.list());
    if (active) {
      // A second Mesh generates nothing; it only says why.
      if (finalizers.includes(MESH_FINALIZER)) {
        await this.prune(await this.listManaged(name), new Set());
        await this.setFinalizers(
          mesh,
          finalizers.filter((f) => f !== MESH_FINALIZER),
        );
      }
      await this.writeConditions(
        mesh,
        [
          {
            type: "Ready",
            status: "False",
            reason: "MeshAlreadyExists",
            message: `Mesh ${active} is this cluster's mesh; a cluster has one Mesh`,
            observedGeneration: mesh.metadata.generation ?? 0,
          },
        ],
        log,
      );
      return;
    }

    if (!finalizers.includes(MESH_FINALIZER)) {
      await this.setFinalizers(mesh, [...finalizers, MESH_FINALIZER]);
    }

    const settings = meshSettings(mesh, this.options.operatorImage);
    // What the webhook would refuse (the Mesh got in while it was down) is reported, not
    // applied: the xDS Deployment and the namespaces' bootstraps stay as they are meanwhile.
    const issueText = (i: { field: string; message: string }) => `${i.field}: ${i.message}`;
    const sidecarProblems = sidecarIssues(mesh).map(issueText);
    const controlPlaneProblems = controlPlaneIssues(mesh).map(issueText);
    const desired = desiredControlPlane(settings);
    // The namespace first (everything else lives in it), then the rest at once.
    const [namespace, ...rest] = desired;
    await this.applyGenerated(namespace!);
    await Promise.all(
      rest
        .filter((obj) => controlPlaneProblems.length === 0 || obj.kind !== "Deployment")
        .map((obj) => this.applyGenerated(obj)),
    );

    const ca = await this.certificateAuthority(mesh, settings, log);

    const selector = (mesh.spec?.injection?.namespaceSelector ?? {}) as LabelSelector;
    // A selector the API server refuses (stored before the schema checked labels) matches nothing:
    // acting on it would strip every namespace of its bootstrap. It is reported instead.
    const namespaceSelectorProblems = selectorProblems(selector).map(
      (p) => `spec.injection.namespaceSelector.${p.field}: ${p.message}`,
    );
    let meshed = this.cache.namespaces
      .list()
      .filter((ns) => !ns.metadata?.deletionTimestamp && selectorMatches(selector, ns.metadata?.labels))
      .map((ns) => ns.metadata!.name!)
      .sort();
    const writeNamespaces =
      ca.trustBundle !== undefined && namespaceSelectorProblems.length === 0 && sidecarProblems.length === 0;
    if (writeNamespaces) {
      const perNamespace = meshed.flatMap((ns) => desiredNamespaceConfig(settings, ns, ca.trustBundle!));
      desired.push(...perNamespace);
      await Promise.all(perNamespace.map((obj) => this.applyGenerated(obj)));
    } else {
      // Keep what namespaces already have: a broken CA must not strip workloads of their trust
      // bundle, nor a selector that cannot be read (the meshed namespaces are then the ones that
      // have it), nor sidecar settings that no bootstrap can be rendered from.
      const configMaps = GENERATED_OBJECTS.filter((generated) => generated.kind === "ConfigMap");
      const existing = configMaps.flatMap((cm) => this.cache.managed(name, cm));
      if (namespaceSelectorProblems.length > 0)
        meshed = [...new Set(existing.map((cm) => cm.metadata!.namespace!))].sort();
      desired.push(...existing.filter((cm) => meshed.includes(cm.metadata!.namespace!)));
    }
    // From the caches: an object they have not seen yet is pruned on the reconcile its arrival starts.
    const generated = GENERATED_OBJECTS.flatMap((g) => this.cache.managed(name, g));
    const removed = await this.prune(generated, new Set(desired.map(identity)));
    if (removed.length) log.info({ removed }, "removed generated objects that are no longer wanted");

    const deployment = this.cache.stored({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { namespace: settings.rootNamespace, name: XDS_NAME },
    }) as
      | {
          status?: {
            readyReplicas?: number;
            conditions?: { type: string; status: string; reason?: string; message?: string }[];
          };
        }
      | undefined;
    const observation: MeshObservation = {
      generation: mesh.metadata.generation ?? 0,
      ca: ca.inspection,
      deployment: {
        available: deployment?.status?.conditions?.find((c) => c.type === "Available"),
        readyReplicas: deployment?.status?.readyReplicas ?? 0,
      },
      meshedNamespaces: meshed.length,
      namespaceSelectorProblems,
      sidecarProblems,
      controlPlaneProblems,
      lastKnownCa: mesh.status?.certificateAuthority,
      trustBundleAvailable: ca.trustBundle !== undefined,
      configuredNamespaces: writeNamespaces ? meshed.length : 0,
      xdsAddress: xdsAddress(settings),
    };
    const status = await this.writeStatus(mesh, observation, log);
    // Re-check the CA's validity now and then even when nothing changes, a staged root when it starts,
    // and the CA's expiry when CertificateAuthorityNotExpiringSoon is due to flip (not only on events).
    const expiryFlipMs = caExpiryFlipInMs(status.certificateAuthority?.notAfter, this.now());
    return { requeueAfterMs: Math.min(10 * 60_000, ca.recheckInMs ?? Infinity, expiryFlipMs ?? Infinity) };
  }

  /** The CA, builtin or cert-manager's, checked; see BuiltinCertificateAuthority for the builtin one's life. */
  private async certificateAuthority(mesh: Mesh, s: MeshSettings, log: Logger): Promise<CaObservation> {
    if (mesh.spec?.certificateAuthority?.certManager) return this.certManagerAuthority(mesh, s);
    return this.builtinCa.observe(mesh, s, log);
  }

  private async certManagerAuthority(mesh: Mesh, s: MeshSettings): Promise<CaObservation> {
    const issuerRef = mesh.spec!.certificateAuthority!.certManager!.issuerRef;
    const certificate: Certificate = {
      apiVersion: "cert-manager.io/v1",
      kind: "Certificate",
      metadata: {
        name: CERT_MANAGER_SECRET,
        namespace: s.rootNamespace,
        labels: { [MANAGED_BY_LABEL]: s.name, "app.kubernetes.io/part-of": "skiff" },
      },
      spec: {
        secretName: CERT_MANAGER_SECRET,
        commonName: "Skiff intermediate CA",
        isCA: true,
        duration: "8760h",
        renewBefore: "720h",
        usages: ["cert sign", "crl sign", "digital signature"],
        privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Never" },
        issuerRef: {
          name: issuerRef.name,
          kind: issuerRef.kind ?? "Issuer",
          group: issuerRef.group ?? "cert-manager.io",
        },
      },
    };
    try {
      await this.applier.apply(certificate as KubernetesObject);
    } catch (error) {
      if (error instanceof KindNotServedError) {
        return {
          inspection: {
            ok: false,
            reason: "CertManagerNotInstalled",
            message:
              "the API server does not serve cert-manager.io/v1 Certificate; install cert-manager or use the builtin CA",
          },
        };
      }
      throw error;
    }
    const secret = await this.caSecret(s.rootNamespace, CERT_MANAGER_SECRET);
    if (!secret) {
      return {
        inspection: {
          ok: false,
          reason: "CertificatePending",
          message: `cert-manager has not issued ${CERT_MANAGER_SECRET} yet`,
        },
      };
    }
    const inspection = inspectCa(
      decode(secret.data?.["tls.crt"]),
      decode(secret.data?.["tls.key"]),
      this.now(),
      decode(secret.data?.["ca.crt"]),
    );
    return inspection.ok ? { inspection, trustBundle: decode(secret.data?.["ca.crt"]) } : { inspection };
  }

  private async setFinalizers(mesh: Mesh, finalizers: string[]): Promise<void> {
    // The resourceVersion makes this a compare-and-swap: a concurrent change fails it, and the retry reads again.
    await this.rest.request("PATCH", apiPath`/apis/skiff.dev/v1alpha1/meshes/${mesh.metadata.name!}`, {
      body: { metadata: { finalizers, resourceVersion: mesh.metadata.resourceVersion } },
      contentType: "application/merge-patch+json",
    });
  }

  /** A generated object, applied unless the cache shows it as this process last applied it. */
  private async applyGenerated(object: KubernetesObject): Promise<void> {
    await this.generated.apply(object, this.cache.stored(object));
  }

  /** A CA Secret: the cached one, or, when the cache has none, the API server's answer. */
  private async caSecret(namespace: string, name: string): Promise<Secret | undefined> {
    return (
      this.cache.caSecrets.get(name)?.get(namespace, name) ??
      (await this.rest.getIfExists<Secret>(apiPath`/api/v1/namespaces/${namespace}/secrets/${name}`))
    );
  }

  /** Everything this Mesh generated, as the API server has it now. */
  private async listManaged(mesh: string): Promise<KubernetesObject[]> {
    return (
      await Promise.all(GENERATED_OBJECTS.map((generated) => this.managedObjects(mesh, generated)))
    ).flat();
  }

  /** What this Mesh generated of one kind and name, in every namespace. */
  private async managedObjects(mesh: string, generated: GeneratedObject): Promise<KubernetesObject[]> {
    const { apiVersion, kind, name } = generated;
    const path = await this.rest.path(apiVersion, kind, null);
    // Selected by name as well: the operator's RBAC lets it list only the names it generates.
    const list = await this.rest.request<{ items: KubernetesObject[] }>("GET", path, {
      query: { labelSelector: `${MANAGED_BY_LABEL}=${mesh}`, fieldSelector: `metadata.name=${name}` },
    });
    return list.items.map((o) => ({ ...o, apiVersion, kind }));
  }

  /** Deletes every object of `existing` (what this Mesh generated) that is not in `keep`; returns what it deleted. */
  private async prune(existing: KubernetesObject[], keep: Set<string>): Promise<string[]> {
    const unwanted = existing.filter((obj) => !keep.has(identity(obj)));
    await Promise.all(
      unwanted.map(async (obj) => {
        this.generated.forget(obj);
        try {
          await this.rest.request("DELETE", await this.rest.pathOf(obj));
        } catch (error) {
          if (!(error instanceof KubernetesApiError) || error.statusCode !== 404) throw error;
        }
      }),
    );
    return unwanted.map(identity);
  }

  private async event(mesh: Mesh, log: Logger, event: EventSpec): Promise<void> {
    await this.options.events
      ?.record(mesh as KubernetesObject, event)
      .catch((error: unknown) => log.warn({ err: error, reason: event.reason }, "could not record an event"));
  }

  /** Writes Ready=False/ReconcileFailed; a failure to write it is logged, and the reconcile's error still thrown. */
  private async reportFailure(name: string, error: unknown, log: Logger): Promise<void> {
    try {
      const mesh = await this.rest.getIfExists<Mesh>(apiPath`/apis/skiff.dev/v1alpha1/meshes/${name}`);
      if (!mesh) return;
      const previous = (mesh.status?.conditions ?? []) as Condition[];
      const message = error instanceof Error ? error.message : String(error);
      const status = reconcileFailedStatus(mesh.status, message, mesh.metadata.generation ?? 0, this.now());
      await this.applyStatus(mesh, previous, status, log);
    } catch (reportError) {
      log.error({ err: reportError }, "could not report the failed reconcile in the Mesh's status");
    }
  }

  private async writeConditions(mesh: Mesh, desired: DesiredCondition[], log: Logger): Promise<void> {
    const previous = (mesh.status?.conditions ?? []) as Condition[];
    const conditions = replaceConditions(previous, desired, this.now());
    await this.applyStatus(
      mesh,
      previous,
      { observedGeneration: mesh.metadata.generation ?? 0, conditions },
      log,
    );
  }

  private async writeStatus(mesh: Mesh, observation: MeshObservation, log: Logger): Promise<MeshStatus> {
    const previous = (mesh.status?.conditions ?? []) as Condition[];
    const status = meshStatus(observation, previous, this.now());
    await this.applyStatus(mesh, previous, status, log);
    return status;
  }

  private async applyStatus(
    mesh: Mesh,
    previous: Condition[],
    status: MeshStatus,
    log: Logger,
  ): Promise<void> {
    const object = {
      apiVersion: "skiff.dev/v1alpha1",
      kind: "Mesh",
      metadata: { name: mesh.metadata.name ?? "" },
    };
    const current = { ...object, status: reconcilerOwnedStatus(mesh.status) };
    if (!(await applyStatusIfChanged(this.applier, current, status))) return;
    this.statusWrites.record(mesh.metadata.name ?? "", status);
    for (const event of conditionTransitionEvents(previous, status.conditions as Condition[])) {
      await this.event(mesh, log, event);
    }
  }
}
