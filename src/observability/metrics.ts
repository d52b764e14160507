import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/**
 * The process's Prometheus registry and Skiff's own metrics. Names follow
 * Prometheus conventions (skiff_<subsystem>_<what>_<unit>).
 */
export const registry = new Registry();
// nodejs_eventloop_lag_{max,p99,...}_seconds are sampled every 5 ms (the default 10 ms would hide the
// stalls an ADS push must stay under); prom-client resets them at each scrape, so max is per scrape interval.
collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 5 });

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

export const xdsConnectedProxies = new Gauge({
  name: "skiff_xds_connected_proxies",
  help: "ADS streams whose first request identified a proxy and that are still open.",
  registers: [registry],
});

export const xdsStreamsRefused = new Counter({
  name: "skiff_xds_streams_refused_total",
  help: "ADS streams ended because the proxy's credentials were not accepted, by gRPC status (UNAUTHENTICATED: no or an invalid token; PERMISSION_DENIED: the node id names a Pod the token is not bound to; UNAVAILABLE: the token could not be checked; RESOURCE_EXHAUSTED: too many refused tokens from the peer).",
  labelNames: ["code"] as const,
  registers: [registry],
});

export const xdsPushes = new Counter({
  name: "skiff_xds_pushes_total",
  help: "xDS responses sent to proxies, by short type (cds, eds, lds, rds, sds, other).",
  labelNames: ["type"] as const,
  registers: [registry],
});

export const xdsPushDuration = new Histogram({
  name: "skiff_xds_push_duration_seconds",
  help: "How long pushing one new generation to one proxy took (snapshot, selection, framing, write).",
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
  registers: [registry],
});

export const xdsNacks = new Counter({
  name: "skiff_xds_nacks_total",
  help: "xDS responses a proxy rejected (NACKed), by short type.",
  labelNames: ["type"] as const,
  registers: [registry],
});

export const xdsAcks = new Counter({
  name: "skiff_xds_acks_total",
  help: "xDS responses a proxy accepted (ACKed), by short type.",
  labelNames: ["type"] as const,
  registers: [registry],
});

export const xdsResourceEncodes = new Counter({
  name: "skiff_xds_resource_encodes_total",
  help: "Envoy resources encoded to protobuf, by type; each distinct resource version is encoded once, however many proxies receive it.",
  labelNames: ["type"] as const,
  registers: [registry],
});

export const xdsConvergence = new Histogram({
  name: "skiff_xds_convergence_seconds",
  help: "From a cluster change seen by the xDS server to the last connected proxy's ACK of a configuration containing it.",
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});

export const csdsRequests = new Counter({
  name: "skiff_csds_requests_total",
  help: "ClientStatusDiscoveryService requests answered by the xDS server, by outcome (answered, or the gRPC status of the refusal in lower case: unauthenticated, permission_denied, unavailable...).",
  labelNames: ["outcome"] as const,
  registers: [registry],
});

export const certificateRequests = new Counter({
  name: "skiff_certificate_requests_total",
  help: "CSRs answered by the xDS server's certificate service, by outcome (issued, or the gRPC status of the refusal in lower case).",
  labelNames: ["outcome"] as const,
  registers: [registry],
});

export const certificateIssuance = new Histogram({
  name: "skiff_certificate_issuance_seconds",
  help: "How long an issued workload certificate took to answer: the whole CreateCertificate request as the workload waits for it, its token review, CSR check and signing included.",
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [registry],
});
