import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/**
 * The process's Prometheus registry and Skiff's own metrics. Names follow
 * Prometheus conventions (skiff_<subsystem>_<what>_<unit>).
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry });

export const workqueueDepth = new Gauge({
  name: "skiff_workqueue_depth",
  help: "Keys waiting to be processed, per queue.",
  labelNames: ["name"] as const,
  registers: [registry],
});

export const workqueueQueueDuration = new Histogram({
  name: "skiff_workqueue_queue_duration_seconds",
  help: "How long a key waited in the queue before a worker took it.",
  labelNames: ["name"] as const,
  buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60],
  registers: [registry],
});

export const workqueueRetries = new Counter({
  name: "skiff_workqueue_retries_total",
  help: "Keys requeued with backoff after a failed attempt, per queue.",
  labelNames: ["name"] as const,
  registers: [registry],
});

export const reconcileTotal = new Counter({
  name: "skiff_reconcile_total",
  help: "Reconciles, by controller and result (success, error, terminal, requeue).",
  labelNames: ["controller", "result"] as const,
  registers: [registry],
});

export const reconcileErrors = new Counter({
  name: "skiff_reconcile_errors_total",
  help: "Reconciles that failed, by controller.",
  labelNames: ["controller"] as const,
  registers: [registry],
});

export const reconcileDuration = new Histogram({
  name: "skiff_reconcile_duration_seconds",
  help: "How long a reconcile took, by controller.",
  labelNames: ["controller"] as const,
  buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

export const informerRelists = new Counter({
  name: "skiff_informer_relists_total",
  help: "Full lists by an informer: the first, and each after a 410 Gone; a resumed watch needs none.",
  labelNames: ["kind"] as const,
  registers: [registry],
});
