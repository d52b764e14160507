import type { Logger } from "pino";
import { vouchesFor } from "../../pki/inspect.js";
import { certificatePems } from "../../pki/pem.js";
import { spiffeId } from "../../pki/workload.js";
import type { WorkloadIdentity } from "../cache/snapshot.js";
import { canSign, type MeshCa, type MeshTrust } from "./mesh-ca.js";

/**
 * What an identity's proxies are told (ROOTCA and skiff-issuer): the roots
 * to trust, and who they are and which CA signs for them now, so that an
 * agent holding its own key knows when a new signer wants it to re-request
 * its certificate.
 */
export interface Trust {
  trustBundlePem: string;
  spiffeId: string;
  /** The signing CA's own certificate (the first of tls.crt). */
  signerPem: string;
}

/** How long to wait before checking again when the API server could not answer. */
const RETRY_MS = 10_000;

interface Entry {
  readonly identity: WorkloadIdentity;
  /** What was last published for it; none while the CA has never been able to sign. */
  published?: Trust;
  timer?: NodeJS.Timeout;
}

const identityKey = (i: WorkloadIdentity) => `${i.namespace}/${i.serviceAccount}`;
const same = (a: Trust | undefined, b: Trust) =>
  a?.trustBundlePem === b.trustBundlePem && a.spiffeId === b.spiffeId && a.signerPem === b.signerPem;

/**
 * The trust each workload identity with connected proxies is told over SDS.
 * No private key and no certificate is made here: workloads make their own
 * keys and get certificates by CSR (certificate-service.ts), where each
 * request's token is reviewed afresh.
 *
 * An identity is followed from the first proxy that proves it (`proven`)
 * until a periodic check (`stillProven`, every `recheckEveryMs`) finds no
 * connected proxy whose credentials the API server still accepts; then its
 * Secrets are withdrawn (`onWithdrawn`). The check ends the streams whose
 * token is no longer valid (a deleted ServiceAccount), so configuration
 * stops flowing to them too. When it cannot be made, it is retried in 10 s
 * and nothing is withdrawn.
 */
export class IdentityTrust {
  private readonly entries = new Map<string, Entry>();
  /** Checks under way: one may withdraw the identity, so proven() waits for its outcome. */
  private readonly checking = new Map<string, Promise<void>>();
  private stopped = false;

  constructor(
    /** The CA, or only the roots to trust while nothing may sign, or nothing usable at all. */
    private readonly ca: () => MeshCa | MeshTrust | undefined,
    private readonly onPublished: (identity: WorkloadIdentity, trust: Trust) => void,
    private readonly onWithdrawn: (identity: WorkloadIdentity) => void,
    private readonly stillProven: (identity: WorkloadIdentity) => Promise<boolean>,
    private readonly recheckEveryMs: () => number,
    private readonly logger: Logger,
  ) {}

  /**
   * A proxy proved `identity` just now: its Secrets are published if they
   * were not (once the CA can sign, if it cannot yet; caChanged publishes
   * them then), and the identity is checked again from now on.
   */
  async proven(identity: WorkloadIdentity): Promise<void> {
    const key = identityKey(identity);
    await this.checking.get(key);
    if (this.stopped || this.entries.has(key)) return;
    const entry: Entry = { identity };
    this.entries.set(key, entry);
    this.schedule(entry, this.recheckEveryMs());
    this.refresh(entry);
  }

  /**
   * The CA Secret changed. The staged root rotation in docs/ARCHITECTURE.md
   * rests on this: a new trust bundle reaches every identity now, and a new
   * signer is announced to every identity now (agents then re-request their
   * certificates), so that the old root can be removed soon after.
   */
  caChanged(): void {
    if (this.stopped) return;
    for (const entry of this.entries.values()) this.refresh(entry);
  }

  stop(): void {
    this.stopped = true;
    for (const entry of this.entries.values()) clearTimeout(entry.timer);
    this.entries.clear();
  }

  /**
   * Publishes what the CA says now, if it changed. With only roots to trust
   * (a staged signer not signing yet) the announced signer stays, and a new
   * bundle is published only if it vouches for that signer: one that does
   * not would make peers refuse the certificates workloads hold. With no
   * signer ever announced there is nothing to publish yet, and with no
   * usable CA at all what was published stays.
   */
  private refresh(entry: Entry): void {
    const ca = this.ca();
    let next: Trust;
    if (canSign(ca)) {
      const { namespace, serviceAccount } = entry.identity;
      next = {
        trustBundlePem: ca.trustBundlePem,
        spiffeId: spiffeId(ca.trustDomain, namespace, serviceAccount),
        signerPem: certificatePems(ca.signer.certPem)[0] ?? ca.signer.certPem,
      };
    } else if (ca && entry.published && vouchesFor(ca.trustBundlePem, entry.published.signerPem)) {
      next = { ...entry.published, trustBundlePem: ca.trustBundlePem };
    } else return;
    if (same(entry.published, next)) return;
    entry.published = next;
    this.onPublished(entry.identity, next);
  }

  private schedule(entry: Entry, delayMs: number): void {
    clearTimeout(entry.timer);
    // Never sooner than a second, so a tiny validity cannot spin.
    entry.timer = setTimeout(() => this.checkSoon(entry.identity), Math.max(1000, delayMs));
    entry.timer.unref();
  }

  private checkSoon(identity: WorkloadIdentity): void {
    const key = identityKey(identity);
    if (this.checking.has(key)) return;
    const check = this.check(identity).finally(() => this.checking.delete(key));
    this.checking.set(key, check);
  }

  private async check(identity: WorkloadIdentity): Promise<void> {
    const key = identityKey(identity);
    try {
      const proven = await this.stillProven(identity);
      const entry = this.entries.get(key);
      if (this.stopped || !entry) return;
      if (proven) return this.schedule(entry, this.recheckEveryMs());
      this.entries.delete(key);
      this.logger.info(
        { identity: key },
        "no connected proxy proves this identity any more: Secrets withdrawn",
      );
      this.onWithdrawn(identity);
    } catch (error) {
      const entry = this.entries.get(key);
      if (this.stopped || !entry) return;
      this.logger.error(
        { err: error, identity: key },
        "checking a workload identity again failed; retrying in 10 s",
      );
      this.schedule(entry, RETRY_MS);
    }
  }
}
