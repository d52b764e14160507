import type { experimental } from "@grpc/grpc-js";
import { X509Certificate } from "node:crypto";
import type { Logger } from "pino";
import { signingCaFromPem, type KeyPair } from "../../pki/issue.js";
import { issueServingCertificate } from "../../pki/serving.js";
import { certificateChain } from "../../pki/chain.js";
import type { MeshCa, MeshTrust } from "../identity/mesh-ca.js";

/** Replaced at 80% of its life, as workload certificates are. */
const RENEW_AT_FRACTION = 0.8;
const RETRY_MS = 10_000;
/** Short-lived, like a workload's: a stolen key is worth a day at most. */
export const SERVING_VALIDITY_MS = 24 * 3600_000;

/**
 * The xDS server's own TLS certificate, from the mesh CA, for the names
 * proxies dial (its Service's DNS names): what lets a proxy know it talks
 * to Skiff before it sends its token. A grpc-js certificate provider, so
 * a renewed certificate serves new connections with no restart.
 *
 * Issued at start (or as soon as the CA can sign), renewed at 80% of its
 * life, and at once when the signer changes (staged root rotation: proxies
 * trust the new root before it signs). Until there is one, TLS handshakes
 * fail and proxies retry. The key is made here and never leaves.
 */
export class ServingCertificate implements experimental.CertificateProvider {
  private current?: { pair: KeyPair; signerPem: string };
  private readonly listeners = new Set<experimental.IdentityCertificateUpdateListener>();
  private timer?: NodeJS.Timeout;
  private issuing?: Promise<void>;
  private stopped = false;

  constructor(
    private readonly ca: () => MeshCa | MeshTrust | undefined,
    private readonly dnsNames: readonly string[],
    private readonly logger: Logger,
    private readonly validityMs = SERVING_VALIDITY_MS,
  ) {}

  /** The certificate now served (chain PEM), if any. */
  get certificatePem(): string | undefined {
    return this.current?.pair.certPem;
  }

  /** Issues the first certificate when the CA can sign; resolves either way. */
  start(): Promise<void> {
    return this.renew();
  }

  /** The CA Secret changed: a new signer means a new certificate now. */
  caChanged(): void {
    const ca = this.ca();
    if (!ca || !("signer" in ca)) return;
    if (this.current?.signerPem !== ca.signer.certPem) void this.renew();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  addIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.listeners.add(listener);
    // Later, not now: grpc-js's server credentials subscribe here before they
    // register the server's own watcher, so an answer given during this call
    // would be lost and the server would refuse every handshake.
    queueMicrotask(() => {
      if (this.current && this.listeners.has(listener)) listener(this.update(this.current.pair));
    });
  }

  removeIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.listeners.delete(listener);
  }

  // Proxies prove themselves with tokens, not client certificates: no CA to verify them with.
  addCaCertificateListener(_listener: experimental.CaCertificateUpdateListener): void {}
  removeCaCertificateListener(_listener: experimental.CaCertificateUpdateListener): void {}

  private renew(): Promise<void> {
    this.issuing ??= this.issue().finally(() => (this.issuing = undefined));
    return this.issuing;
  }

  private async issue(): Promise<void> {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const ca = this.ca();
    if (!ca || !("signer" in ca)) {
      // caChanged() issues it once the CA can sign; keep the current one meanwhile.
      this.logger.warn("the mesh CA cannot sign yet: the xDS server has no new TLS certificate");
      if (this.current) this.schedule(RETRY_MS);
      return;
    }
    try {
      const pair = await issueServingCertificate(await signingCaFromPem(ca.signer), {
        dnsNames: this.dnsNames,
        validityMs: this.validityMs,
        now: new Date(),
      });
      // Leaf plus any intermediate (cert-manager's): proxies trust only the roots.
      const chain = { certPem: certificateChain(pair.certPem, ca.signer.certPem), keyPem: pair.keyPem };
      if (this.stopped) return;
      this.current = { pair: chain, signerPem: ca.signer.certPem };
      const life = Date.parse(new X509Certificate(pair.certPem).validTo) - Date.now();
      this.schedule(Math.max(1000, RENEW_AT_FRACTION * life));
      this.logger.info(
        { names: this.dnsNames, notAfter: new Date(Date.now() + life) },
        "xDS server TLS certificate issued",
      );
      for (const listener of this.listeners) listener(this.update(chain));
    } catch (error) {
      this.logger.error({ err: error }, "issuing the xDS server's TLS certificate failed; retrying in 10 s");
      this.schedule(RETRY_MS);
    }
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.renew(), ms);
    this.timer.unref();
  }

  private update(pair: KeyPair) {
    return { certificate: Buffer.from(pair.certPem), privateKey: Buffer.from(pair.keyPem) };
  }
}
