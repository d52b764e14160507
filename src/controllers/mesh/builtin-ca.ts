import type { Logger } from "pino";
import { durationMs } from "../../api/duration.js";
import type { Mesh } from "../../api/v1alpha1/generated/mesh.js";
import type { EventSpec } from "../../k8s/events.js";
import { apiPath, KubernetesApiError, type RestClient } from "../../k8s/rest.js";
import { inspectCa } from "../../pki/inspect.js";
import { createRootCa, type CertificateAuthorityMaterial } from "../../pki/root.js";
import { signsLater } from "../../pki/signs-from.js";
import type { MeshSettings } from "./desired.js";
import {
  caSecretMissing,
  missingCaSecretAction,
  regeneratedTrustBundle,
  stagedRootProblem,
} from "./lost-ca.js";
import type { MeshObservation } from "./status.js";
import type { Secret } from "./cache.js";
import { MANAGED_BY_LABEL, REGENERATE_CA_ANNOTATION, SIGNS_FROM_ANNOTATION } from "../../mesh/annotations.js";
import { CA_SECRET, TRUST_BUNDLE_CONFIGMAP } from "../../mesh/names.js";
import { MESH_DEFAULTS, meshIdentity } from "../../mesh/defaults.js";

const DAY_MS = 24 * 3600_000;

const decode = (b64: string | undefined) =>
  b64 === undefined ? undefined : Buffer.from(b64, "base64").toString("utf8");

/** What the Mesh reconciler learns of its CA. */
export interface CaObservation {
  inspection: MeshObservation["ca"];
  /** The bundle for meshed namespaces, when there is one to write: a usable CA's, or a staged root's. */
  trustBundle?: string;
  /** When the CA needs a look again before the periodic one: a staged root's start. */
  recheckInMs?: number;
}

export interface BuiltinCaOptions {
  now: () => Date;
  /** How long a regenerated root is trusted before it signs. */
  rootTrustPeriodMs: number;
  /** Reads a CA Secret (from a cache that may lag, but never reports a Secret missing that exists). */
  caSecret: (namespace: string, name: string) => Promise<Secret | undefined>;
  /** Records an Event about the Mesh; never fails. */
  event: (mesh: Mesh, log: Logger, event: EventSpec) => Promise<void>;
}

/**
 * The builtin CA of a Mesh, in the Secret skiff-ca of its root namespace.
 * A CA Secret is only ever created, with a create that fails if another
 * writer got there first, and never updated or deleted here: a broken CA is
 * reported, not replaced. When the Secret is missing:
 * - a Mesh that never recorded a root (status.certificateAuthority) gets its
 *   first one, signing at once;
 * - a Mesh that did has lost it: CertificateAuthorityReady=False/
 *   CASecretMissing, and a new root only once the Mesh's
 *   skiff.dev/regenerate-ca annotation names the lost root. That root is
 *   staged (skiff.dev/signs-from): trusted beside the lost one at once, and
 *   signing only after rootTrustPeriodMs, as a rotation's steps are ordered.
 * A Secret that exists is used whatever status records: after a crash
 * between creating it and recording it, or after a user's rotation.
 */
export class BuiltinCertificateAuthority {
  constructor(
    private readonly rest: RestClient,
    private readonly options: BuiltinCaOptions,
  ) {}

  async observe(mesh: Mesh, s: MeshSettings, log: Logger): Promise<CaObservation> {
    let secret = await this.options.caSecret(s.rootNamespace, CA_SECRET);
    if (!secret) {
      const lost = mesh.status?.certificateAuthority?.fingerprintSHA256;
      const request = mesh.metadata.annotations?.[REGENERATE_CA_ANNOTATION];
      switch (missingCaSecretAction(lost, request).action) {
        case "Report":
          return { inspection: caSecretMissing(`${s.rootNamespace}/${CA_SECRET}`, lost!, request) };
        case "CreateFirstRoot":
          secret = await this.createFirstRoot(mesh, s, log);
          break;
        case "Regenerate":
          secret = await this.regenerate(mesh, s, lost!, log);
          break;
      }
    }
    return this.inspect(secret);
  }

  private async inspect(secret: Secret): Promise<CaObservation> {
    const now = this.options.now();
    const certPem = decode(secret.data?.["tls.crt"]);
    const trustBundle = decode(secret.data?.["ca.crt"]) ?? certPem;
    const inspection = inspectCa(
      certPem,
      decode(secret.data?.["tls.key"]),
      now,
      decode(secret.data?.["ca.crt"]),
    );
    if (!inspection.ok) return { inspection };
    const signsFrom = signsLater(secret.metadata?.annotations, now);
    if (signsFrom) {
      // Staged: the xDS server sends its roots now and signs from then; look again at that time.
      return {
        inspection: stagedRootProblem(certPem!, trustBundle!, signsFrom),
        trustBundle,
        recheckInMs: signsFrom.getTime() - now.getTime(),
      };
    }
    return { inspection, trustBundle };
  }

  private async createFirstRoot(mesh: Mesh, s: MeshSettings, log: Logger): Promise<Secret> {
    const root = await this.newRoot(mesh);
    const secret = await this.create(s, root, root.certPem, {}, log);
    if (secret.created) {
      log.info({ secret: `${s.rootNamespace}/${CA_SECRET}` }, "created the mesh root CA");
      await this.options.event(mesh, log, {
        type: "Normal",
        reason: "CertificateAuthorityCreated",
        action: "Create",
        note: `created the root CA in Secret ${s.rootNamespace}/${CA_SECRET}`,
      });
    }
    return secret.secret;
  }

  /** A new root after the loss of `lostFingerprint`, which the user asked for: staged beside the lost root. */
  private async regenerate(
    mesh: Mesh,
    s: MeshSettings,
    lostFingerprint: string,
    log: Logger,
  ): Promise<Secret> {
    const root = await this.newRoot(mesh);
    const bundle = regeneratedTrustBundle(lostFingerprint, await this.meshTrustBundles(mesh), root.certPem);
    const signsFrom = new Date(this.options.now().getTime() + this.options.rootTrustPeriodMs);
    const secret = await this.create(
      s,
      root,
      bundle.pem,
      { [SIGNS_FROM_ANNOTATION]: signsFrom.toISOString() },
      log,
    );
    if (secret.created) {
      log.warn(
        { secret: `${s.rootNamespace}/${CA_SECRET}`, lostFingerprint, lostRootFound: bundle.lostRootFound },
        "created a new mesh root CA after the loss of the previous one, as the Mesh's annotation asked",
      );
      await this.options.event(mesh, log, {
        type: "Normal",
        reason: "NewRootStaged",
        action: "Create",
        note:
          `created a new root CA in Secret ${s.rootNamespace}/${CA_SECRET} after the loss of the root SHA-256 ${lostFingerprint}; ` +
          (bundle.lostRootFound
            ? "workloads trust it beside the lost root now"
            : "no meshed namespace's trust bundle held the lost root, so workloads trust the new root alone") +
          `, and it signs from ${signsFrom.toISOString()}`,
      });
    }
    return secret.secret;
  }

  private newRoot(mesh: Mesh): Promise<CertificateAuthorityMaterial> {
    return createRootCa({
      trustDomain: meshIdentity(mesh).trustDomain,
      validityMs:
        durationMs(mesh.spec?.certificateAuthority?.builtin?.rootValidity ?? MESH_DEFAULTS.rootValidity) ||
        3650 * DAY_MS,
      now: this.options.now(),
    });
  }

  /** Creates the CA Secret, or, when another writer created it first, returns theirs. */
  private async create(
    s: MeshSettings,
    root: CertificateAuthorityMaterial,
    trustBundlePem: string,
    annotations: Record<string, string>,
    log: Logger,
  ): Promise<{ secret: Secret; created: boolean }> {
    const body = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: {
        name: CA_SECRET,
        namespace: s.rootNamespace,
        labels: { [MANAGED_BY_LABEL]: s.name, "app.kubernetes.io/part-of": "skiff" },
        annotations,
      },
      type: "kubernetes.io/tls",
      stringData: { "tls.crt": root.certPem, "tls.key": root.keyPem, "ca.crt": trustBundlePem },
    };
    try {
      return {
        secret: await this.rest.request<Secret>("POST", this.secretsPath(s), { body }),
        created: true,
      };
    } catch (error) {
      if (!(error instanceof KubernetesApiError) || error.statusCode !== 409) throw error;
      log.info("the CA Secret was created concurrently: using that one");
      const theirs = await this.rest.request<Secret>("GET", this.secretsPath(s) + apiPath`/${CA_SECRET}`);
      return { secret: theirs, created: false };
    }
  }

  /** The trust bundles this Mesh wrote to meshed namespaces, which outlive a lost CA Secret. */
  private async meshTrustBundles(mesh: Mesh): Promise<string[]> {
    // Selected by name as well: the operator's RBAC lets it list only the names it generates.
    const list = await this.rest.request<{ items: { data?: Record<string, string> }[] }>(
      "GET",
      "/api/v1/configmaps",
      {
        query: {
          labelSelector: `${MANAGED_BY_LABEL}=${mesh.metadata.name}`,
          fieldSelector: `metadata.name=${TRUST_BUNDLE_CONFIGMAP}`,
        },
      },
    );
    return list.items.map((cm) => cm.data?.["root-cert.pem"] ?? "");
  }

  private secretsPath(s: MeshSettings): string {
    return apiPath`/api/v1/namespaces/${s.rootNamespace}/secrets`;
  }
}
