/**
 * B10: the latency a pair of sidecars adds to a request. On the local node
 * (src/localnode: Pods as processes in network namespaces, real Envoy
 * sidecars injected by the operator, mTLS between them as a Mesh gives by
 * default), two fortio pairs, each a client Pod and a fortio echo server
 * behind a Service:
 * - in a meshed namespace: fortio → client sidecar → server sidecar → server,
 *   to the Service's ClusterIP (the client sidecar routes it);
 * - in a namespace without injection: fortio → server, to the server Pod's IP.
 * The same fortio load runs in both, in turns (direct, meshed, direct, ...),
 * ROUNDS times, and the difference of the medians is what the sidecars add.
 *
 * The load is Istio's benchmark's (istio/tools perf/benchmark, as the
 * Performance and Scalability page states it): HTTP/1.1, 1 kB payload (fortio
 * -payload-size: a POST of 1 kB that the echo server sends back), 1000 requests
 * per second over 16 connections, uniform spreading of the connections' calls.
 */
import { readFileSync } from "node:fs";
import { escapeRegExp } from "./regexp.js";
import {
  apply,
  meshNamespace,
  podOf,
  rest,
  service,
  clientPod,
  fortioDeployment,
  startMeshCluster,
  stopMeshCluster,
  unsupported,
  waitPodsReady,
} from "../../e2e/kit.js";
import { envoyStats, statValue } from "../../e2e/envoy-admin.js";
import { fortioLoad, type FortioResult } from "../../e2e/load.js";
import { median } from "../shared/stats.js";

const MESHED = "bench-meshed";
const DIRECT = "bench-direct";
const PORT = 8080;
const PERCENTILES = [50, 90, 99] as const;

export interface LatencySettings {
  qps: number;
  connections: number;
  duration: string;
  payloadBytes: number;
  rounds: number;
}

/** One fortio run: its latency percentiles (ms), the rate it reached, and how its calls ended. */
export interface LatencyRun {
  path: "direct" | "meshed";
  ms: Record<(typeof PERCENTILES)[number], number>;
  actualQps: number;
  calls: number;
  retCodes: Record<string, number>;
  /** The 1-minute load average when the run ended: how busy the 2 cores were. */
  loadAverage: number;
}

export type B10Result =
  | { skipped: string }
  | {
      runs: LatencyRun[];
      /** Medians over the rounds, per path, and meshed minus direct. */
      direct: Record<string, number>;
      meshed: Record<string, number>;
      added: Record<string, number>;
      /**
       * From the sidecars' own stats: requests the client sidecar sent to the server and the server
       * sidecar passed to its application over the measured runs, and the client sidecar's TLS
       * handshakes to the server since it started (its connections outlive one fortio run).
       */
      sidecars: {
        clientUpstreamRequests: number;
        serverInboundRequests: number;
        clientTlsHandshakes: number;
      };
      /** The measured fortio load's arguments (before its URL). */
      fortioArgs: string[];
    };

interface FortioPercentiles extends FortioResult {
  ActualQPS: number;
  DurationHistogram: { Count: number; Percentiles: { Percentile: number; Value: number }[] };
}

/** The server sidecar's cluster for its application (inboundClusterName). */
const INBOUND = `cluster.inbound|${PORT}||`;
const upstream = (namespace: string) => `cluster.outbound|${PORT}||server.${namespace}.svc.cluster.local`;

export async function measureSidecarLatency(
  settings: LatencySettings,
  log: (line: string) => void,
): Promise<B10Result> {
  const reason = unsupported();
  if (reason) return { skipped: `the local node cannot run here: ${reason}` };
  log("  starting the local cluster (API server, operator, xDS server, local node)");
  await startMeshCluster();
  try {
    await meshNamespace(MESHED);
    await apply([{ apiVersion: "v1", kind: "Namespace", metadata: { name: DIRECT } }]);
    for (const namespace of [MESHED, DIRECT])
      await apply([
        fortioDeployment(namespace, "server", { port: PORT }),
        service(namespace, "server", [{ name: "http", port: PORT, targetPort: PORT }]),
        clientPod(namespace),
      ]);
    await Promise.all([waitPodsReady(MESHED, 2), waitPodsReady(DIRECT, 2)]);
    const clusterIP = (
      await rest().request<{ spec: { clusterIP: string } }>(
        "GET",
        `/api/v1/namespaces/${MESHED}/services/server`,
      )
    ).spec.clusterIP;
    const serverIP = (await podOf(DIRECT, "app=server")).status?.podIP;
    if (!serverIP) throw new Error(`${DIRECT}/server has no Pod IP`);
    const urls = { meshed: `http://${clusterIP}:${PORT}/echo`, direct: `http://${serverIP}:${PORT}/echo` };
    const loadArgs = (duration: string) => [
      "-qps",
      String(settings.qps),
      "-c",
      String(settings.connections),
      "-t",
      duration,
      "-payload-size",
      String(settings.payloadBytes),
      "-uniform",
      "-p",
      PERCENTILES.join(","),
    ];
    const fortioArgs = loadArgs(settings.duration);
    const timeoutMs = (Number.parseInt(settings.duration, 10) + 60) * 1000;
    const load = (path: LatencyRun["path"], args: string[]) =>
      fortioLoad(path === "meshed" ? MESHED : DIRECT, "client", [...args, urls[path]], { timeoutMs });
    // Warm-up, not measured: the meshed path's connections and TLS sessions, and the client sidecar's first routing.
    for (const path of ["direct", "meshed"] as const) await load(path, loadArgs("5s"));
    const runs: LatencyRun[] = [];
    const serverPod = (await podOf(MESHED, "app=server")).metadata.name;
    const sidecarStats = () =>
      Promise.all([
        envoyStats(
          MESHED,
          "client",
          `^${escapeRegExp(upstream(MESHED))}\\.(upstream_rq_total|ssl\\.handshake)$`,
        ),
        envoyStats(MESHED, serverPod, `^${escapeRegExp(INBOUND)}\\.upstream_rq_total$`),
      ]);
    const [clientBefore, serverBefore] = await sidecarStats();
    for (let round = 0; round < settings.rounds; round++)
      for (const path of ["direct", "meshed"] as const) {
        const run = latencyRun(path, (await load(path, fortioArgs)) as FortioPercentiles);
        runs.push(run);
        log(
          `  B10 ${path} round ${round + 1}: ${JSON.stringify(run.ms)} ms at ${run.actualQps.toFixed(0)} qps, ${JSON.stringify(run.retCodes)}`,
        );
      }
    const [clientAfter, serverAfter] = await sidecarStats();
    const medians = (path: LatencyRun["path"]) =>
      Object.fromEntries(
        PERCENTILES.map((p) => [`p${p}`, median(runs.filter((r) => r.path === path).map((r) => r.ms[p]))]),
      );
    const direct = medians("direct");
    const meshed = medians("meshed");
    const grew = (after: Map<string, number>, before: Map<string, number>, name: string) =>
      statValue(after, name) - statValue(before, name);
    return {
      runs,
      direct,
      meshed,
      added: Object.fromEntries(Object.keys(direct).map((k) => [k, meshed[k]! - direct[k]!])),
      sidecars: {
        clientUpstreamRequests: grew(clientAfter, clientBefore, `${upstream(MESHED)}.upstream_rq_total`),
        clientTlsHandshakes: statValue(clientAfter, `${upstream(MESHED)}.ssl.handshake`),
        serverInboundRequests: grew(serverAfter, serverBefore, `${INBOUND}.upstream_rq_total`),
      },
      fortioArgs,
    };
  } finally {
    await stopMeshCluster();
  }
}

function latencyRun(path: LatencyRun["path"], result: FortioPercentiles): LatencyRun {
  const at = (p: number) => {
    const value = result.DurationHistogram.Percentiles.find((q) => q.Percentile === p)?.Value;
    if (value === undefined) throw new Error(`fortio printed no p${p}`);
    return value * 1000;
  };
  return {
    path,
    ms: { 50: at(50), 90: at(90), 99: at(99) },
    actualQps: result.ActualQPS,
    calls: result.DurationHistogram.Count,
    retCodes: result.RetCodes,
    loadAverage: Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]),
  };
}
