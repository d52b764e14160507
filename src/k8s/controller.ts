import type { KubernetesObject } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { randomUUID } from "node:crypto";
import { reconcileDuration, reconcileErrors, reconcileTotal } from "../observability/metrics.js";
import { objectKey } from "./informer.js";
import { TerminalError, WorkQueue, type HandlerResult } from "./workqueue.js";

export interface ReconcileRequest {
  /** namespace/name, or name for a cluster-scoped object. */
  key: string;
  namespace: string | undefined;
  name: string;
  /** Unique per attempt; every log line of the attempt carries it. */
  reconcileID: string;
  log: Logger;
}

export type Reconcile = (request: ReconcileRequest) => Promise<HandlerResult>;

export interface ControllerOptions {
  concurrency?: number;
  logger: Logger;
}

function splitKey(key: string): { namespace: string | undefined; name: string } {
  const slash = key.indexOf("/");
  return slash < 0
    ? { namespace: undefined, name: key }
    : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/**
 * A named reconcile loop over a work queue. It only ever hands the reconciler
 * a key: reconcilers read the current state themselves and never branch on
 * what kind of event woke them. Each attempt is logged with `controller`,
 * `object` and `reconcileID`, and measured:
 * skiff_reconcile_total{controller,result}, skiff_reconcile_errors_total,
 * skiff_reconcile_duration_seconds.
 */
export class Controller {
  private readonly queue: WorkQueue;
  private readonly log: Logger;

  constructor(
    readonly name: string,
    private readonly reconcile: Reconcile,
    options: ControllerOptions,
  ) {
    this.log = options.logger.child({ controller: name });
    this.queue = new WorkQueue(name, (key) => this.run(key), {
      concurrency: options.concurrency ?? 1,
      onError: (key, error, terminal) =>
        this.log.error(
          { object: key, err: error, terminal },
          terminal ? "reconcile failed; not retrying" : "reconcile failed; retrying with backoff",
        ),
    });
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  enqueueObject(obj: KubernetesObject): void {
    this.queue.add(objectKey(obj));
  }

  start(): void {
    this.queue.start();
  }

  /** Stops taking work and waits for reconciles in flight. */
  shutdown(): Promise<void> {
    return this.queue.shutdown();
  }

  private async run(key: string): Promise<HandlerResult> {
    const reconcileID = randomUUID();
    const log = this.log.child({ object: key, reconcileID });
    const stopTimer = reconcileDuration.startTimer({ controller: this.name });
    try {
      const result = await this.reconcile({ key, ...splitKey(key), reconcileID, log });
      reconcileTotal.inc({ controller: this.name, result: result ? "requeue" : "success" });
      return result;
    } catch (error) {
      reconcileTotal.inc({
        controller: this.name,
        result: error instanceof TerminalError ? "terminal" : "error",
      });
      reconcileErrors.inc({ controller: this.name });
      throw error;
    } finally {
      stopTimer();
    }
  }
}
