import type { KubeConfig } from "@kubernetes/client-node";
import { apiPath, KubernetesApiError, RestClient } from "./rest.js";
import { kubernetesMicroTime } from "./time.js";

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  /** Unique per replica, such as the Pod name plus a random suffix. */
  identity: string;
  /** How long a lease is valid without renewal (default 15 s). */
  leaseDurationMs?: number;
  /** The leader gives up if it cannot renew for this long (default 10 s). */
  renewDeadlineMs?: number;
  /** How often candidates try and the leader renews (default 2 s). */
  retryPeriodMs?: number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  onError?: (error: unknown) => void;
}

interface Lease {
  apiVersion: "coordination.k8s.io/v1";
  kind: "Lease";
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go does it:
 * - candidates try every retry period; the lease is taken over only when its
 *   record has not changed for a whole lease duration, measured on *our*
 *   clock from when we last saw it change, so clock skew between replicas does
 *   not matter;
 * - every write carries the resourceVersion it read, so two candidates can
 *   never both win;
 * - a leader that cannot renew within the renew deadline stops leading before
 *   its lease can expire for the others;
 * - `stop()` releases the lease, so a successor need not wait out the duration.
 */
export class LeaderElector {
  private readonly rest: RestClient;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private observedRecord = "";
  private observedAt = 0;
  private lastRenewal = 0;
  private leading = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private running: Promise<void> = Promise.resolve();

  constructor(
    kubeConfig: KubeConfig,
    private readonly options: LeaderElectionOptions,
  ) {
    this.rest = new RestClient(kubeConfig, 5_000);
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.schedule(0);
  }

  /** Stops trying; a leader releases the lease and stops leading. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    if (this.leading) {
      await this.release().catch((error: unknown) => this.options.onError?.(error));
      this.setLeading(false);
    }
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => this.schedule(this.retryPeriodMs));
    }, delayMs);
  }

  private path(name?: string): string {
    const base = apiPath`/apis/coordination.k8s.io/v1/namespaces/${this.options.namespace}/leases`;
    return name ? base + apiPath`/${name}` : base;
  }

  private async tick(): Promise<void> {
    try {
      const acquired = await this.tryAcquireOrRenew();
      if (acquired) this.lastRenewal = Date.now();
      if (acquired && !this.leading) this.setLeading(true);
      if (!acquired && this.leading) this.setLeading(false);
    } catch (error) {
      this.options.onError?.(error);
      // A leader cut off from the API server must stop before others may take over.
      if (this.leading && Date.now() - this.lastRenewal > this.renewDeadlineMs) this.setLeading(false);
    }
  }

  private setLeading(leading: boolean): void {
    this.leading = leading;
    if (leading) this.options.onStartedLeading();
    else this.options.onStoppedLeading();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const mine = (previous?: Lease["spec"]): Lease["spec"] => ({
      holderIdentity: this.options.identity,
      leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
      acquireTime:
        previous?.holderIdentity === this.options.identity && previous.acquireTime
          ? previous.acquireTime
          : kubernetesMicroTime(now),
      renewTime: kubernetesMicroTime(now),
      leaseTransitions:
        (previous?.leaseTransitions ?? 0) +
        (previous?.holderIdentity && previous.holderIdentity !== this.options.identity ? 1 : 0),
    });

    let lease: Lease;
    try {
      lease = await this.rest.request<Lease>("GET", this.path(this.options.name));
    } catch (error) {
      if (!(error instanceof KubernetesApiError) || error.statusCode !== 404) throw error;
      await this.rest.request("POST", this.path(), {
        body: {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name: this.options.name, namespace: this.options.namespace },
          spec: mine(),
        } satisfies Lease,
      });
      return true;
    }

    const record = JSON.stringify(lease.spec);
    if (record !== this.observedRecord) {
      this.observedRecord = record;
      this.observedAt = Date.now();
    }
    const holder = lease.spec.holderIdentity;
    const heldByOther = !!holder && holder !== this.options.identity;
    const durationMs = (lease.spec.leaseDurationSeconds ?? 0) * 1000;
    if (heldByOther && Date.now() < this.observedAt + durationMs) return false;

    try {
      await this.rest.request("PUT", this.path(this.options.name), {
        body: { ...lease, spec: mine(lease.spec) },
      });
    } catch (error) {
      if (error instanceof KubernetesApiError && error.statusCode === 409) return false; // someone else wrote first
      throw error;
    }
    return true;
  }

  private async release(): Promise<void> {
    const lease = await this.rest.request<Lease>("GET", this.path(this.options.name));
    if (lease.spec.holderIdentity !== this.options.identity) return;
    await this.rest.request("PUT", this.path(this.options.name), {
      body: { ...lease, spec: { ...lease.spec, holderIdentity: "", leaseDurationSeconds: 1 } },
    });
  }
}
