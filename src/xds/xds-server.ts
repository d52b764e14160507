import type { KubeConfig } from "@kubernetes/client-node";
import { experimental } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { xdsConvergence } from "../observability/metrics.js";
import { hostname } from "node:os";
import { randomUUID } from "node:crypto";
import { PolicyStatusWriter, type OtherReplicas } from "./status/status-writer.js";
import { LeaderElector } from "../k8s/leaderelection.js";
import type { KubernetesObject } from "@kubernetes/client-node";
import { durationMs } from "../api/duration.js";
import { inspectCa } from "../pki/inspect.js";
import { signsLater } from "../pki/signs-from.js";
import { Informer } from "../k8s/informer.js";
import { RestClient } from "../k8s/rest.js";
import { ConvergenceTracker } from "./convergence.js";
import { bearerToken, reviewToken } from "./identity/token-review.js";
import { TokenReviews } from "./identity/token-reviews.js";
import { forbidden, refused } from "./server/authentication-error.js";
import { nodeClaimRefusal } from "./node-binding.js";
import { IdentityTrust } from "./identity/identity-trust.js";
import type { MeshCa, MeshTrust } from "./identity/mesh-ca.js";
import { identitySecrets } from "./translate/identity-secrets.js";
import { CertificateService } from "./identity/certificate-service.js";
import { cachedOperatorAccess, checkOperatorAccess } from "./identity/operator-access.js";
import { CsdsService } from "./status/csds-service.js";
import { LocalProgramming } from "./status/local-programming.js";
import { PeerReplicas, type ReplicaPeer } from "./status/peer-replicas.js";
import { ReplicaDiscovery } from "./status/replica-discovery.js";
import { ReplicaStatusService } from "./status/replica-status-service.js";
import type { ReplicaReport } from "./status/replica-report.js";
import { XdsPipeline } from "./pipeline.js";
import { ServingCertificate } from "./tls/serving-certificate.js";
import { AdsServer, type ProxyState } from "./server/ads-server.js";
import { CA_SECRET, CERT_MANAGER_SECRET } from "../mesh/names.js";
import { MESH_DEFAULTS, meshIdentity } from "../mesh/defaults.js";

export interface XdsServerOptions {
  logger: Logger;
  /** host:port to serve ADS on; port 0 picks a free one. */
  address: string;
  /** The longest a cluster change waits to be coalesced with others (default 50 ms). */
  debounceMs?: number;
  /**
   * With several replicas, only the holder of the skiff-xds-status Lease in
   * this namespace writes TrafficPolicy status. Omitted: this replica writes
   * it unconditionally (one replica, as in `skiff dev` and the tests).
   */
  statusLeaseNamespace?: string;
  /** Where the mesh CA Secret (skiff-ca) is read from: the root namespace, where the xDS server runs. */
  caNamespace: string;
  /**
   * How long a new policy generation's Programmed=Pending is held back so
   * that a quick ACK makes one write of Accepted and Programmed=True
   * (default 1 s; tests that count writes on a busy machine raise it).
   */
  statusPendingHoldMs?: number;
  /** Overrides the Mesh's workloadValidity (tests of rotation). */
  workloadValidityMs?: number;
  /** How proxies reach the server, and whether they must prove who they are (see XdsSecurity). */
  security: XdsSecurity;
  /**
   * The other replicas of this xDS server, whose proxies the status writer
   * counts too (status-writer.ts). Omitted: this is the only one.
   */
  replicas?: OtherReplicaSettings;
}

export interface OtherReplicaSettings {
  /**
   * A fixed list, or the endpoints of this server's Service (its
   * EndpointSlices in caNamespace; `self` is this Pod's name, left out).
   */
  readonly peers:
    readonly ReplicaPeer[] | { readonly service: string; readonly portName: string; readonly self: string };
  /** This replica's ServiceAccount token for the skiff audience, read anew each time. */
  readonly token: () => Promise<string>;
}

/**
 * - "tls": TLS with a certificate from the mesh CA naming `serverNames`
 *   (the Service's DNS names proxies dial), and every stream must carry a
 *   valid token: one without gets UNAUTHENTICATED, no configuration and no
 *   certificate. What production runs.
 * - "insecure": plaintext, and a stream without a token is served without
 *   an identity (no certificates), and counts for policy status. For local
 *   experiments and tests only: anyone who can reach the port can read the
 *   mesh's configuration and speak for a Pod. CSDS asks for an operator's
 *   token in both modes (here it travels in plaintext).
 */
export type XdsSecurity = { mode: "tls"; serverNames: readonly string[] } | { mode: "insecure" };

export interface RunningXdsServer {
  readonly port: number;
  readonly pipeline: XdsPipeline;
  readonly ads: AdsServer;
  stop(): Promise<void>;
}

/**
 * `skiff xds`: the pipeline (informers -> compile -> translate -> cache) and
 * the ADS server that serves it. Resolves once the first generation is
 * published and the server listens, so no proxy ever sees an empty mesh
 * while the informers sync.
 */
export async function startXdsServer(
  kubeConfig: KubeConfig,
  options: XdsServerOptions,
): Promise<RunningXdsServer> {
  const pipeline = new XdsPipeline(kubeConfig, {
    logger: options.logger,
    ...(options.debounceMs === undefined ? {} : { debounceMs: options.debounceMs }),
  });
  await pipeline.start();
  const convergence = new ConvergenceTracker((seconds) => xdsConvergence.observe(seconds));
  // One informer per name: RBAC grants watch on these two Secrets only, which a field selector on the name satisfies.
  const caSecrets = [CA_SECRET, CERT_MANAGER_SECRET].map(
    (name) =>
      new Informer<KubernetesObject & { data?: Record<string, string> }>(kubeConfig, "v1", "Secret", {
        namespace: options.caNamespace,
        fieldSelector: `metadata.name=${name}`,
      }),
  );
  await Promise.all(caSecrets.map((informer) => informer.start()));
  let lastCaProblem: string | undefined;
  // One wake-up for a staged signer's start (see signs-from.ts); replaced when the time changes.
  let stagedSigner: { at: number; timer: NodeJS.Timeout } | undefined;
  const wakeWhenSignerStarts = (at: Date) => {
    if (stagedSigner?.at === at.getTime()) return;
    clearTimeout(stagedSigner?.timer);
    // At most setTimeout's limit (about 24 days); on waking, the start is checked (and this scheduled) again.
    const delay = Math.min(at.getTime() - Date.now(), 2 ** 31 - 1);
    const timer = setTimeout(() => {
      stagedSigner = undefined;
      trust.caChanged();
    }, delay);
    timer.unref();
    stagedSigner = { at: at.getTime(), timer };
  };
  // The Mesh this server's CA belongs to: the one rooted where it runs (normally the Mesh in force).
  const caMesh = () => pipeline.meshRootedIn(options.caNamespace);
  const workloadValidityMs = () =>
    options.workloadValidityMs ??
    durationMs(
      caMesh()?.spec?.certificateAuthority?.builtin?.workloadValidity ?? MESH_DEFAULTS.workloadValidity,
    );
  const meshCa = (): MeshCa | MeshTrust | undefined => {
    const mesh = caMesh();
    // With cert-manager, its intermediate signs, and its ca.crt (the issuer's root) is the trust bundle.
    const certManager = mesh?.spec?.certificateAuthority?.certManager !== undefined;
    const name = certManager ? CERT_MANAGER_SECRET : CA_SECRET;
    const secret = caSecrets[certManager ? 1 : 0]!.get(options.caNamespace, name);
    const data = secret?.data ?? {};
    const decode = (key: string) =>
      data[key] ? Buffer.from(data[key], "base64").toString("utf8") : undefined;
    const certPem = decode("tls.crt");
    const keyPem = decode("tls.key");
    if (!certPem || !keyPem) return undefined;
    const trustBundlePem = decode("ca.crt") ?? certPem;
    // Never sign with a CA that the bundle does not vouch for: workloads would refuse those certificates.
    // The Mesh reports why (CertificateAuthorityReady); existing certificates stay until then.
    const inspection = inspectCa(certPem, keyPem, new Date(), trustBundlePem);
    if (!inspection.ok) {
      if (inspection.message !== lastCaProblem)
        options.logger.error({ reason: inspection.reason }, `the mesh CA cannot sign: ${inspection.message}`);
      lastCaProblem = inspection.message;
      return undefined;
    }
    lastCaProblem = undefined;
    // A staged signer: its roots are trusted now, and it signs from the annotated time.
    const startsAt = signsLater(secret?.metadata?.annotations, new Date());
    if (startsAt) {
      wakeWhenSignerStarts(startsAt);
      return { trustBundlePem };
    }
    return {
      signer: { certPem, keyPem },
      trustBundlePem,
      trustDomain: meshIdentity(mesh).trustDomain,
      workloadValidityMs: workloadValidityMs(),
    };
  };
  const rest = new RestClient(kubeConfig);
  const tokens = new TokenReviews((token) => reviewToken(rest, token));
  // ROOTCA and skiff-issuer per proven identity; no key or certificate is made here (CSRs sign those).
  const trust = new IdentityTrust(
    meshCa,
    (identity, published) => pipeline.snapshots.publishSecrets(identity, identitySecrets(published)),
    (identity) => pipeline.snapshots.withdrawSecrets(identity),
    // The tokens of the identity's streams reviewed afresh: a deleted ServiceAccount's streams end.
    (identity) =>
      ads.reverify(identity, (metadata) => {
        const token = bearerToken(metadata);
        return token === undefined ? Promise.reject(refused("no token")) : tokens.recheck(token);
      }),
    // As often as agents renew their certificates (80% of their validity), as this server once did.
    () => 0.8 * workloadValidityMs(),
    options.logger,
  );
  for (const informer of caSecrets) informer.on(() => trust.caChanged());
  const secure = options.security.mode === "tls";
  const serving =
    options.security.mode === "tls"
      ? new ServingCertificate(meshCa, options.security.serverNames, options.logger)
      : undefined;
  for (const informer of caSecrets) informer.on(() => serving?.caChanged());
  await serving?.start();
  // CSRs from agents: signed by the same CA, so never by one the bundle does not vouch for.
  const certificateService = new CertificateService({ ca: meshCa, tokens, logger: options.logger });
  // CSDS for the mesh's operators: a token the API server accepts, for a ServiceAccount that may get Meshes.
  const operatorAccess = cachedOperatorAccess((identity) => checkOperatorAccess(rest, identity));
  const csds: CsdsService = new CsdsService({
    proxies: (): ProxyState[] => ads.proxies(),
    identify: (token, peer) => tokens.identify(token, peer),
    authorize: operatorAccess,
    logger: options.logger,
  });
  // Every replica answers the status writer for its own proxies, with the same access as CSDS.
  const localProgramming = new LocalProgramming();
  pipeline.onRun((run) => localProgramming.observe(run));
  const replicaStatus: ReplicaStatusService = new ReplicaStatusService({
    report: (): ReplicaReport => localProgramming.report(ads.proxies()),
    identify: (token, peer) => tokens.identify(token, peer),
    authorize: operatorAccess,
    logger: options.logger,
  });
  const ads = new AdsServer(pipeline.snapshots, {
    logger: options.logger,
    ...(serving
      ? { credentials: experimental.createCertificateProviderServerCredentials(serving, null, false) }
      : {}),
    // Trust Secrets go only to proxies that proved their ServiceAccount with a token.
    authenticate: async (node, metadata, peer) => {
      const token = bearerToken(metadata);
      if (token === undefined) {
        if (secure)
          throw refused("no token: send the Pod's projected ServiceAccount token as a bearer token");
        return undefined;
      }
      const identity = await tokens.identify(token, peer);
      const refusal = nodeClaimRefusal(node.id, identity);
      if (refusal) throw forbidden(refusal);
      // With no CA that can sign yet the stream is still served: its Secrets come when one can.
      await trust.proven(identity);
      return identity;
    },
    createCertificate: (request, metadata, peer) => certificateService.answer(request, metadata, peer),
    clientStatus: (request, metadata, peer) => csds.answer(request, metadata, peer),
    replicaProgramming: (metadata, peer) => replicaStatus.answer(metadata, peer),
    onResponseStatus: () => {
      convergence.check((generation) => ads.everyProxyRan(generation));
      statusWriter?.proxyAnswered();
    },
  });
  const otherReplicas = await startOtherReplicas(kubeConfig, options, () => meshCa()?.trustBundlePem);
  let statusWriter: PolicyStatusWriter | undefined;
  const startStatus = () => {
    statusWriter ??= new PolicyStatusWriter(kubeConfig, pipeline, localProgramming, ads, {
      logger: options.logger,
      ...(options.statusPendingHoldMs === undefined ? {} : { pendingHoldMs: options.statusPendingHoldMs }),
      ...(otherReplicas ? { otherReplicas } : {}),
    });
    statusWriter.start();
  };
  const stopStatus = async () => {
    const writer = statusWriter;
    statusWriter = undefined;
    await writer?.stop();
  };
  pipeline.onRun((run) => {
    convergence.started(run.generation, run.changeSeenAt);
    // After the server's push (also scheduled with setImmediate): a generation
    // that changed nothing for any proxy has converged already.
    setImmediate(() => convergence.check((generation) => ads.everyProxyRan(generation)));
  });
  let port: number;
  try {
    port = await ads.start(options.address);
  } catch (error) {
    pipeline.stop();
    for (const informer of caSecrets) informer.stop();
    trust.stop();
    serving?.stop();
    otherReplicas?.stop();
    throw error;
  }
  let elector: LeaderElector | undefined;
  if (options.statusLeaseNamespace) {
    elector = new LeaderElector(kubeConfig, {
      namespace: options.statusLeaseNamespace,
      name: "skiff-xds-status",
      identity: `${hostname()}_${randomUUID().slice(0, 8)}`,
      onStartedLeading: startStatus,
      onStoppedLeading: () => void stopStatus(),
      onError: (error) => options.logger.warn({ err: error }, "status leader election"),
    });
    elector.start();
  } else {
    startStatus();
  }
  return {
    port,
    pipeline,
    ads,
    async stop() {
      await elector?.stop();
      await stopStatus();
      otherReplicas?.stop();
      await ads.stop();
      trust.stop();
      serving?.stop();
      clearTimeout(stagedSigner?.timer);
      for (const informer of caSecrets) informer.stop();
      pipeline.stop();
    },
  };
}

/**
 * The other replicas the status writer asks, over TLS verified against the
 * mesh roots and naming the Service when this server serves TLS, and with
 * this replica's token; undefined when there are none to ask.
 */
async function startOtherReplicas(
  kubeConfig: KubeConfig,
  options: XdsServerOptions,
  meshRoots: () => string | undefined,
): Promise<(OtherReplicas & { stop(): void }) | undefined> {
  const settings = options.replicas;
  if (!settings) return undefined;
  const discovery =
    "service" in settings.peers
      ? new ReplicaDiscovery(kubeConfig, { namespace: options.caNamespace, ...settings.peers })
      : undefined;
  await discovery?.start();
  const fixed = "service" in settings.peers ? [] : settings.peers;
  const security = options.security;
  const peers = new PeerReplicas({
    peers: () => discovery?.peers() ?? fixed,
    token: settings.token,
    ...(security.mode === "tls" ? { tls: { roots: meshRoots, serverName: security.serverNames[0]! } } : {}),
  });
  return {
    ask: () => peers.ask(),
    onChange: (listener) => discovery?.onChange(listener) ?? (() => {}),
    stop() {
      peers.close();
      discovery?.stop();
    },
  };
}
