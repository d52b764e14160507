import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import type { INamespace, IPod } from "kubernetes-models/v1";
import type { Logger } from "pino";
import type { Mesh } from "../api/v1alpha1/generated/mesh.js";
import { DEFAULT_INJECTION_SELECTOR } from "../api/v1alpha1/mesh.js";
import { activeMeshOtherThan } from "../mesh/singleton.js";
import { skipReason, sidecarPatch } from "../inject/sidecar.js";
import { Informer } from "../k8s/informer.js";
import { RestClient } from "../k8s/rest.js";
import { selectorMatches, selectorProblems, type LabelSelector } from "../k8s/selector.js";
import type { AdmissionDecision, AdmissionRequest } from "./admission.js";
import { patchWebhookConfigurations } from "./ca-bundle.js";
import { injectionSettings } from "./injection-settings.js";
import { listenAddress } from "../net/listen-address.js";
import { AdmissionServer } from "./server.js";
import { ensureWebhookTls } from "./tls-secret.js";
import { validateAuthorizationPolicy } from "./validate-authorizationpolicy.js";
import { validateMesh } from "./validate-mesh.js";
import { validateTrafficPolicy } from "./validate-trafficpolicy.js";

export interface WebhookOptions {
  logger: Logger;
  /** host:port to serve HTTPS on; port 0 picks a free one. */
  address: string;
  /** Where the TLS Secret lives (the operator's namespace). */
  namespace: string;
  secretName: string;
  /** The names the API server uses to reach us: the Service's DNS names, or 127.0.0.1 locally. */
  hosts: string[];
  /** The Skiff image, for the skiff-init container. */
  image: string;
  /** How often certificates and webhook configurations are checked (default 1 min). */
  resyncMs?: number;
}

export interface RunningWebhook {
  readonly port: number;
  /** The CA bundle the API server must trust. */
  caBundle(): string;
  stop(): Promise<void>;
}

type Obj<T> = T & KubernetesObject;

/**
 * The operator's admission webhooks: sidecar injection on /inject, and
 * TrafficPolicy, Mesh and AuthorizationPolicy validation on /validate. Every replica serves them. Each
 * resync re-reads the TLS Secret (renewing it if needed, whoever gets there
 * first), reloads the serving certificate, and patches caBundle and the
 * injector's namespace selector into the webhook configurations.
 */
export async function startWebhook(kubeConfig: KubeConfig, options: WebhookOptions): Promise<RunningWebhook> {
  const rest = new RestClient(kubeConfig);
  const log = options.logger.child({ component: "webhook" });
  const meshes = new Informer<Obj<Mesh>>(kubeConfig, "skiff.dev/v1alpha1", "Mesh");
  const namespaces = new Informer<Obj<INamespace>>(kubeConfig, "v1", "Namespace");
  await Promise.all([meshes.start(), namespaces.start()]);
  const activeMesh = () => {
    const all = meshes.list();
    return all.find((m) => activeMeshOtherThan(m.metadata?.name ?? "", all) === undefined);
  };
  /**
   * The Mesh's injection selector; undefined when it is not one the API
   * server accepts (stored before the schema checked labels; the Mesh's
   * status says so). Such a selector matches nothing, and the API server
   * would refuse it in the injector's configuration, failing the patch of
   * the CA bundle with it. So the configuration keeps the last valid
   * selector, which alone decides which Pods reach the injector.
   */
  const selectorOf = (mesh: Mesh | undefined): LabelSelector | undefined => {
    const selector =
      (mesh?.spec?.injection?.namespaceSelector as LabelSelector | undefined) ?? DEFAULT_INJECTION_SELECTOR;
    return selectorProblems(selector).length === 0 ? selector : undefined;
  };

  const inject = async (request: AdmissionRequest): Promise<AdmissionDecision> => {
    // The configuration sends Pods only; anything else is not the injector's.
    if (request.kind.kind !== "Pod") return { allowed: true };
    const pod = request.object as IPod | undefined;
    // Mutating admission comes before the API server validates the Pod: one
    // without containers, which it then refuses, gets nothing (a sidecar
    // would be its only container, and make it valid).
    if (!pod || !Array.isArray(pod.spec?.containers) || pod.spec.containers.length === 0)
      return { allowed: true };
    const mesh = activeMesh();
    const namespace = namespaces.get(request.namespace ?? "");
    const selector = selectorOf(mesh);
    if (!mesh || !namespace || (selector && !selectorMatches(selector, namespace.metadata?.labels)))
      return { allowed: true };
    if (skipReason(pod)) return { allowed: true };
    let injection;
    try {
      injection = injectionSettings(mesh, pod, options.image);
    } catch (error) {
      return { allowed: false, code: 400, message: (error as Error).message };
    }
    return { allowed: true, patch: sidecarPatch(pod, injection.settings), warnings: injection.warnings };
  };
  // The configuration sends TrafficPolicies, Meshes and AuthorizationPolicies; there is nothing to check in any other kind.
  const validate = async (request: AdmissionRequest): Promise<AdmissionDecision> =>
    request.kind.kind === "Mesh"
      ? validateMesh(request)
      : request.kind.kind === "TrafficPolicy"
        ? validateTrafficPolicy(rest, request)
        : request.kind.kind === "AuthorizationPolicy"
          ? validateAuthorizationPolicy(request)
          : { allowed: true };

  let tls = await ensureWebhookTls(rest, { ...options, name: options.secretName, logger: log });
  const server = new AdmissionServer(tls, { "/inject": inject, "/validate": validate }, log);
  const listen = listenAddress(options.address);
  const port = await server.listen(listen.host, listen.port);

  const resync = async () => {
    try {
      const next = await ensureWebhookTls(rest, { ...options, name: options.secretName, logger: log });
      if (next.certPem !== tls.certPem) server.setCertificate(next);
      tls = next;
      const { patched } = await patchWebhookConfigurations(rest, tls.caBundlePem, selectorOf(activeMesh()));
      if (patched.length > 0) log.info({ patched }, "updated the webhook configurations");
    } catch (error) {
      // Retried at the next resync; admission keeps working with the current certificate meanwhile.
      log.warn({ err: error }, "webhook certificate or configuration resync failed");
    }
  };
  await resync();
  const timer = setInterval(() => void resync(), options.resyncMs ?? 60_000);
  // A Mesh whose injection selector changes is reflected at once.
  // Only then: every other Mesh event (each status write among them) would cost three GETs for nothing.
  let resyncedFor: string | undefined;
  const unsubscribe = meshes.on(() => {
    const selector = JSON.stringify(selectorOf(activeMesh()) ?? null);
    if (selector === resyncedFor) return;
    resyncedFor = selector;
    void resync();
  });

  return {
    port,
    caBundle: () => tls.caBundlePem,
    async stop() {
      clearInterval(timer);
      unsubscribe();
      meshes.stop();
      namespaces.stop();
      await server.close();
    },
  };
}
