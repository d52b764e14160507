import { X509Certificate } from "node:crypto";
import type { Logger } from "pino";
import { certificateIssued } from "../../observability/metrics.js";
import { signingCaFromPem, type KeyPair } from "../../pki/issue.js";
import { certificateChain } from "../../pki/chain.js";
import { vouchesFor } from "../../pki/inspect.js";
import { certificatePems } from "../../pki/pem.js";
import { issueWorkloadCertificate, spiffeId } from "../../pki/workload.js";
import type { WorkloadIdentity } from "../cache/snapshot.js";

/** What the CA Secret offers when nothing may sign: only the roots to trust. */
export interface MeshTrust {
  /** Every root the mesh trusts, for ROOTCA. */
  trustBundlePem: string;
}

export interface MeshCa extends MeshTrust {
  /**
   * The CA that signs workload certificates: the builtin root, or
   * cert-manager's intermediate (its tls.crt may carry the chain above it).
   */
  signer: KeyPair;
  trustDomain: string;
  workloadValidityMs: number;
}

/**
 * Who signed a certificate, published with it (see issuer-secret.ts) so that
 * agents holding their own keys know when a new signer wants them renewed.
 */
export interface Issuer {
  spiffeId: string;
  /** The signing CA's own certificate (the first of tls.crt). */
  signerPem: string;
}

/** Certificates are replaced at 80% of their validity, as Istio does. */
const RENEW_AT_FRACTION = 0.8;

const identityKey = (i: WorkloadIdentity) => `${i.namespace}/${i.serviceAccount}`;
const canSign = (ca: MeshCa | MeshTrust | undefined): ca is MeshCa => ca !== undefined && "signer" in ca;

interface IssuedCertificate {
  readonly identity: WorkloadIdentity;
  readonly pair: KeyPair;
  readonly timer: NodeJS.Timeout;
  /** The CA as it was when this certificate was issued or last published. */
  readonly signerPem: string;
  readonly spiffeId: string;
  trustBundlePem: string;
}

/**
 * One certificate per workload identity, issued when the first proxy of
 * that identity connects and re-issued at 80% of its life (as Istio does),
 * then handed to `onIssued` so the new one reaches connected proxies over
 * their existing streams.
 *
 * Every issuance after the first (renewal, a new signer) asks `stillProven`
 * first whether a connected proxy still proves the identity with
 * credentials the API server accepts now, not only when its stream opened:
 * when none does (its ServiceAccount deleted, or nobody connected), the
 * certificate is forgotten and `onForgotten` withdraws it, rather than
 * renewed. A proxy that connects later gets a new one. When the check
 * cannot be made, the current certificate stays and the renewal is retried.
 */
export class WorkloadCertificates {
  private readonly issued = new Map<string, IssuedCertificate>();
  private readonly inFlight = new Map<string, Promise<KeyPair>>();
  /** Renewals under way: one may forget the certificate, so ensure() waits for its outcome. */
  private readonly renewing = new Map<string, Promise<void>>();
  private stopped = false;

  constructor(
    /** The CA, or only the roots to trust while nothing may sign, or nothing usable at all. */
    private readonly ca: () => MeshCa | MeshTrust | undefined,
    private readonly onIssued: (
      identity: WorkloadIdentity,
      pair: KeyPair,
      trust: MeshTrust,
      issuer: Issuer,
    ) => void,
    private readonly stillProven: (identity: WorkloadIdentity) => Promise<boolean>,
    private readonly logger: Logger,
    private readonly onForgotten: (identity: WorkloadIdentity) => void = () => {},
  ) {}

  /** The identity's current certificate, issuing one first if there is none. */
  async ensure(identity: WorkloadIdentity): Promise<KeyPair> {
    const key = identityKey(identity);
    await this.renewing.get(key);
    const current = this.issued.get(key);
    if (current) return current.pair;
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.issue(identity).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  /**
   * The CA Secret changed. The staged root rotation in docs/ARCHITECTURE.md
   * rests on this: a new trust bundle (a root added or removed) reaches every
   * identity now, with its certificate unchanged; a new signer re-issues
   * every certificate now, rather than at 80% of its life, so that the old
   * root can be removed soon after.
   *
   * With only roots to trust and no signer (a staged root that does not sign
   * yet), a new trust bundle still reaches the certificates it vouches for:
   * that is how a new root is trusted before it signs. One that does not
   * vouch for a certificate's signer would make peers refuse it, so that
   * certificate keeps its bundle.
   */
  caChanged(): void {
    const ca = this.ca();
    if (!ca || this.stopped) return;
    for (const entry of this.issued.values()) {
      if (!canSign(ca)) {
        if (entry.trustBundlePem !== ca.trustBundlePem && vouchesFor(ca.trustBundlePem, entry.signerPem)) {
          entry.trustBundlePem = ca.trustBundlePem;
          this.onIssued(entry.identity, entry.pair, ca, issuerOf(entry));
        }
      } else if (entry.signerPem !== ca.signer.certPem) {
        this.renewSoon(entry.identity);
      } else if (entry.trustBundlePem !== ca.trustBundlePem) {
        entry.trustBundlePem = ca.trustBundlePem;
        this.onIssued(entry.identity, entry.pair, ca, issuerOf(entry));
      }
    }
  }

  stop(): void {
    this.stopped = true;
    for (const entry of this.issued.values()) clearTimeout(entry.timer);
    this.issued.clear();
  }

  private async issue(identity: WorkloadIdentity): Promise<KeyPair> {
    const ca = this.ca();
    if (!canSign(ca)) throw new Error("the mesh CA cannot sign (yet): no usable signer in its Secret");
    const started = performance.now();
    const id = spiffeId(ca.trustDomain, identity.namespace, identity.serviceAccount);
    const leaf = await issueWorkloadCertificate(await signingCaFromPem(ca.signer), {
      trustDomain: ca.trustDomain,
      namespace: identity.namespace,
      serviceAccount: identity.serviceAccount,
      validityMs: ca.workloadValidityMs,
      now: new Date(),
    });
    const pair = { certPem: certificateChain(leaf.certPem, ca.signer.certPem), keyPem: leaf.keyPem };
    const key = identityKey(identity);
    const previous = this.issued.get(key);
    clearTimeout(previous?.timer);
    // 80% of the life left from issuance (the certificate's notBefore is backdated for clock skew, so
    // it is not the start; its notAfter may be the signer's, sooner than the Mesh's validity); never
    // sooner than a second, so a tiny validity cannot spin.
    const life = Math.min(
      ca.workloadValidityMs,
      Date.parse(new X509Certificate(leaf.certPem).validTo) - Date.now(),
    );
    const renewIn = Math.max(1000, RENEW_AT_FRACTION * life - (performance.now() - started));
    const timer = setTimeout(() => this.renewSoon(identity), renewIn);
    timer.unref();
    this.issued.set(key, {
      identity,
      pair,
      timer,
      signerPem: ca.signer.certPem,
      spiffeId: id,
      trustBundlePem: ca.trustBundlePem,
    });
    certificateIssued("sds", started);
    this.logger.debug(
      { identity: key, ms: Math.round(performance.now() - started), renewInMs: renewIn },
      "issued a workload certificate",
    );
    this.onIssued(identity, pair, ca, issuerOf(this.issued.get(key)!));
    return pair;
  }

  private renewSoon(identity: WorkloadIdentity): void {
    const key = identityKey(identity);
    if (this.renewing.has(key)) return;
    const renewal = this.renew(identity).finally(() => this.renewing.delete(key));
    this.renewing.set(key, renewal);
  }

  private async renew(identity: WorkloadIdentity): Promise<void> {
    if (this.stopped) return;
    const key = identityKey(identity);
    try {
      if (!(await this.stillProven(identity))) {
        if (this.stopped) return;
        clearTimeout(this.issued.get(key)?.timer);
        this.issued.delete(key);
        this.logger.info(
          { identity: key },
          "no connected proxy proves this identity any more: certificate withdrawn",
        );
        this.onForgotten(identity);
        return;
      }
      await this.issue(identity);
    } catch (error) {
      // The current certificate is still valid for a fifth of its life: retry soon.
      this.logger.error(
        { err: error, identity: key },
        "renewing a workload certificate failed; retrying in 10 s",
      );
      setTimeout(() => this.renewSoon(identity), 10_000).unref();
    }
  }
}

const issuerOf = (entry: IssuedCertificate): Issuer => ({
  spiffeId: entry.spiffeId,
  signerPem: certificatePems(entry.signerPem)[0] ?? entry.signerPem,
});
