/** The convergence report: B2's statistics per mode and kind of change, B5, and the raw samples. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fmt, machine } from "../shared/report.js";
import { mean, percentile } from "../shared/stats.js";
import type { ChangeSample } from "./b2.js";
import type { B5Result } from "./b5.js";
import type { ChangeKind } from "./changes.js";
import type { Mode } from "./load.js";
import { B2B_TARGET_MS, B2_TARGET_MS, B5_TARGET_MS } from "./results.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

export interface Settings {
  services: number;
  endpoints: number;
  proxies: number;
  modes: Mode[];
  changes: number;
  b5Proxies: number;
  b5Concurrency: number;
  debounceMs: number | undefined;
  /** skiff xds ran under V8's CPU profiler, which slows it down. */
  cpuProfile: boolean;
}

/** What one mode produced: B2's samples and the server's resources over them, and B5. */
export interface ModeRun {
  mode: Mode;
  connect: Record<string, number | string>;
  samples: ChangeSample[];
  b2ServerCpuS: number;
  b2ServerRssMiB: { start: number; peak: number; end: number; peakReset: boolean };
  b2LoadCpuS: number;
  b5?: B5Result & { apiServerCpuS: number; etcdCpuS: number };
}

export interface RunFacts {
  settings: Settings;
  date: string;
  wallS: number;
  seedS: number;
  seedObjects: number;
  pipelineCostMs: { compile: number; translate: number };
  clockDriftMs: number;
  /** The commit measured, with anything that could make dist/ differ from it (see run.ts). */
  revision: string;
  /** /proc/loadavg's 1, 5 and 15 minute averages when the run started and ended. */
  loadAverage: { start: string; end: string };
  runs: ModeRun[];
}

interface Measure {
  name: string;
  value: (s: ChangeSample) => number | undefined;
  /** Decimals shown (default 1). */
  digits?: number;
}

const MB = (bytes: number | undefined) => (bytes ?? 0) / 1e6;

/** Each measure of one change (ms unless its name says otherwise); the first is the one the targets refer to. */
const MEASURES: Measure[] = [
  {
    name: "**API write sent → last proxy ACKed**",
    value: (s) => s.expected.lastAckUnixMs - s.writeSentUnixMs,
  },
  { name: "API write sent → its response", value: (s) => s.writeAnsweredUnixMs - s.writeSentUnixMs },
  {
    name: "API write sent → the benchmark's own watch saw it",
    value: (s) => (s.watchUnixMs === undefined ? undefined : s.watchUnixMs - s.writeSentUnixMs),
  },
  {
    name: "API write sent → first proxy received it",
    value: (s) => s.expected.firstSeenUnixMs - s.writeSentUnixMs,
  },
  {
    name: "first proxy received it → last proxy ACKed",
    value: (s) => s.expected.lastAckUnixMs - s.expected.firstSeenUnixMs,
  },
  {
    name: "API write sent → Programmed=True seen by the watch",
    value: (s) => (s.programmedUnixMs === undefined ? undefined : s.programmedUnixMs - s.writeSentUnixMs),
  },
  {
    name: "server: change seen → every proxy synced (skiff_xds_convergence_seconds)",
    value: (s) => (s.serverConvergences === 1 ? s.serverConvergenceSumS * 1000 : undefined),
  },
  { name: "server CPU from write to last ACK", value: (s) => s.serverCpuMs, digits: 0 },
  { name: "until quiet: xDS responses sent (count)", value: (s) => s.pushes, digits: 0 },
  { name: "until quiet: MB the proxies received", value: (s) => MB(s.received.bytes), digits: 2 },
  { name: "until quiet: of which EDS (MB)", value: (s) => MB(s.received.bytesByType.eds), digits: 2 },
  { name: "until quiet: of which RDS (MB)", value: (s) => MB(s.received.bytesByType.rds), digits: 2 },
  {
    name: "until quiet: generations the server saw converge (skiff_xds_convergence_seconds count)",
    value: (s) => s.serverConvergences,
  },
  {
    name: "until quiet: TrafficPolicy status writes seen by the watch (count)",
    value: (s) => s.policyStatusWrites,
  },
];

const KINDS: ChangeKind[] = ["endpoints", "policy"];
const KIND_NAMES: Record<ChangeKind, string> = {
  endpoints: "EndpointSlice change",
  policy: "TrafficPolicy change",
};

function measured(run: ModeRun, kind: ChangeKind) {
  return run.samples.filter((s) => s.kind === kind && !s.warmup);
}

function values(samples: ChangeSample[], measure: Measure): number[] {
  return samples
    .map(measure.value)
    .filter((v): v is number => v !== undefined)
    .sort((a, b) => a - b);
}

function b2Table(run: ModeRun): string {
  const lines = [
    "| change | measure (ms unless said) | n | mean | p50 | p99 | max |",
    "|---|---|--:|--:|--:|--:|--:|",
  ];
  for (const kind of KINDS) {
    const samples = measured(run, kind);
    for (const m of MEASURES) {
      const v = values(samples, m);
      if (v.length === 0) continue; // a measure that does not apply to the kind, or was never clean
      const digits = m.digits ?? 1;
      lines.push(
        `| ${KIND_NAMES[kind]} | ${m.name} | ${v.length} | ${fmt(mean(v), digits)} | ${fmt(percentile(v, 50), digits)} | ${fmt(percentile(v, 99), digits)} | ${fmt(v.at(-1), digits)} |`,
      );
    }
  }
  return lines.join("\n");
}

function b5Table(b5: NonNullable<ModeRun["b5"]>): string {
  const ms = (v: number | undefined, count: number) =>
    v === undefined ? `not reached (${count} of ${b5.policies})` : fmt(v);
  const sinceLastCreate = (v: number | undefined) => (v === undefined ? undefined : v - b5.createdMs);
  return [
    "| measure | value |",
    "|---|--:|",
    `| first create sent → last create answered (ms) | ${fmt(b5.createdMs)} |`,
    `| first create sent → last Accepted=True seen (ms) | ${ms(b5.acceptedMs, b5.accepted)} |`,
    `| first create sent → last Programmed=True seen (ms) | ${ms(b5.programmedMs, b5.programmed)} |`,
    `| last create answered → last Accepted=True seen (ms) | ${ms(sinceLastCreate(b5.acceptedMs), b5.accepted)} |`,
    `| **last create answered → last Programmed=True seen (ms)** | ${ms(sinceLastCreate(b5.programmedMs), b5.programmed)} |`,
    `| status updates seen by the watch | ${fmt(b5.statusUpdates)} |`,
    `| status writes per policy | ${fmt(b5.statusUpdates / b5.policies, 2)} |`,
    `| xDS server CPU (s) | ${fmt(b5.serverCpuS, 2)} |`,
    `| xDS server peak RSS (MiB${b5.peakReset ? "" : ", process lifetime"}) | ${fmt(b5.serverPeakRssMiB)} |`,
    `| kube-apiserver CPU (s) | ${fmt(b5.apiServerCpuS, 2)} |`,
    `| etcd CPU (s) | ${fmt(b5.etcdCpuS, 2)} |`,
  ].join("\n");
}

function targets(runs: ModeRun[]): string[] {
  const lines: string[] = [];
  for (const run of runs) {
    const v = values(measured(run, "endpoints"), MEASURES[0]!);
    const p99 = percentile(v, 99);
    lines.push(
      `B2 ${run.mode}, endpoints, p99 ≤ ${B2_TARGET_MS} ms: **${p99 <= B2_TARGET_MS ? "met" : "not met"}** (p99 ${fmt(p99, 1)} ms over ${v.length} changes, N=${run.connect.proxies}).`,
    );
    const programmed = values(
      measured(run, "policy"),
      MEASURES.find((m) => m.name.includes("Programmed"))!,
    );
    const programmedP99 = percentile(programmed, 99);
    lines.push(
      `B2b ${run.mode}, TrafficPolicy change → Programmed, p99 ≤ ${B2B_TARGET_MS} ms: **${programmedP99 <= B2B_TARGET_MS ? "met" : "not met"}** (p99 ${fmt(programmedP99, 1)} ms over ${programmed.length} changes, N=${run.connect.proxies}).`,
    );
    if (run.b5) {
      const { acceptedMs, programmedMs, createdMs, policies, statusUpdates } = run.b5;
      const t =
        programmedMs === undefined || acceptedMs === undefined
          ? undefined
          : Math.max(acceptedMs, programmedMs) - createdMs;
      lines.push(
        `B5 ${run.mode}, ${policies} TrafficPolicies Accepted and Programmed ≤ ${B5_TARGET_MS} ms after the last create: **${t !== undefined && t <= B5_TARGET_MS ? "met" : "not met"}** (${t === undefined ? "not all Programmed before the timeout" : `${fmt(t)} ms`}, N=${run.b5.proxies}; ${fmt(statusUpdates / policies, 2)} status writes per policy).`,
      );
    }
  }
  return lines;
}

export function convergenceReport(facts: RunFacts): string {
  const s = facts.settings;
  const versions = readFileSync(join(ROOT, "hack/controlplane/versions.env"), "utf8");
  const kube = /KUBE_VERSION=(\S+)/.exec(versions)?.[1];
  const etcd = /ETCD_VERSION=(\S+)/.exec(versions)?.[1];
  return [
    `# Convergence benchmark (B2, B5): Skiff against a real API server, ${facts.date}`,
    "",
    `Produced by \`make bench-convergence\` (test/bench/convergence/run.ts) in ${fmt(facts.wallS)} s of wall time. Skiff only: issue 7 allows B2 without the peer, and go-control-plane has no API server watch to compare.`,
    "",
    "## Machine",
    "",
    ...machine("load generator").map((l) => `- ${l}`),
    `- kube-apiserver ${kube} and etcd ${etcd} on loopback (src/controlplane), on the same cores`,
    `- load average (1, 5, 15 min) ${facts.loadAverage.start} at the start and ${facts.loadAverage.end} at the end: anything above the benchmark's own share is other work on the machine`,
    "",
    "## Settings",
    "",
    `- ${s.services} Services (one HTTP port each) and ${s.endpoints} endpoints in EndpointSlices, created in the API server in ${fmt(facts.seedS, 1)} s (${facts.seedObjects} objects); no Pods and no Mesh (see the notes).`,
    `- The real \`skiff xds\` process (dist/src/cli/main.js; commit ${facts.revision}; log level info${s.debounceMs === undefined ? ", default debounce" : `, --debounce-ms ${s.debounceMs}`}${s.cpuProfile ? ", **profiled with --cpu-prof, so slower than it would be**" : ""}) watching that API server; its compile + translate of this state takes about ${fmt(facts.pipelineCostMs.compile)} + ${fmt(facts.pipelineCostMs.translate)} ms (median of 3, measured in the benchmark's process on the same state).`,
    `- B2: N=${s.proxies} simulated Envoy sidecars (\`xdsbench load\`, ${s.modes.join(" and ")}), complete before the first change; ${s.changes} EndpointSlice changes and ${s.changes} TrafficPolicy changes, alternating, one at a time, each after a warm-up change of its kind that is not counted.`,
    s.b5Proxies > 0
      ? `- B5: ${s.services} TrafficPolicies (one per Service, each with a timeout), created with ${s.b5Concurrency} requests in flight, N=${s.b5Proxies} proxies connected.`
      : "- B5: skipped (B5_PROXIES=0).",
    "",
    "## Targets (issues 7 and 18)",
    "",
    ...targets(facts.runs).map((l) => `- ${l}`),
    "",
    ...facts.runs.flatMap((run) => [
      `## B2 convergence, ${run.mode}, N=${run.connect.proxies}`,
      "",
      b2Table(run),
      "",
      `During B2 the xDS server used ${fmt(run.b2ServerCpuS, 2)} s of CPU; its RSS was ${fmt(run.b2ServerRssMiB.start)} MiB at the start, ${fmt(run.b2ServerRssMiB.end)} MiB at the end, with a peak of ${fmt(run.b2ServerRssMiB.peak)} MiB${run.b2ServerRssMiB.peakReset ? "" : " (process lifetime: the kernel refused to reset the peak)"}. The load generator used ${fmt(run.b2LoadCpuS, 2)} s of CPU. The ${run.connect.proxies} proxies took ${fmt(Number(run.connect.totalMs))} ms to connect and complete.`,
      "",
      ...(run.b5
        ? [`## B5 TrafficPolicy creation, ${run.mode}, N=${run.b5.proxies}`, "", b5Table(run.b5), ""]
        : []),
    ]),
    "## How each number is taken",
    "",
    "- Times are Unix time on one clock: the load generator stamps ACKs with Go's time.Now(), the orchestrator with performance.timeOrigin + performance.now() (sub-millisecond, checked against Date.now(): " +
      `${fmt(facts.clockDriftMs, 2)} ms apart at the end).`,
    "- **API write sent** is taken just before the write request goes out (JSON patch of the slice's first endpoint address; server-side apply of the policy), on a client whose API discovery is already warm.",
    "- **Last proxy ACKed**: `xdsbench load` is told a marker before each write (a new endpoint address such as 10.250.100.7, a header value such as b2-policy-0007, which no other resource holds). It looks for the marker once per distinct resource, when it first decodes it, and each proxy stamps the moment it sends the ACK of the first response holding such a resource. The change counts once every proxy has.",
    "- **First proxy received it**: when the load generator first decoded a resource holding the marker, before that proxy's ACK; what comes before is the API server, the watch, any debounce, compile, translate and the start of the push; what comes after is the fan-out to N proxies.",
    "- **The benchmark's own watch**: an Informer on EndpointSlices and TrafficPolicies in the benchmark's process, the same kind of watch the xDS server holds; it shows what the API server and watch delivery take.",
    "- **skiff_xds_convergence_seconds** is the xDS server's own histogram, read from its /metrics before the write and once the server is quiet again: from the moment its informer saw a change to every connected proxy running a generation that carries it, observed when the server has processed the ACK that brings the last proxy there (each type of a proxy counts from the last response of it the proxy ACKed, so a newer push in flight does not hold it back); a server short of CPU processes ACKs late, which this shows and the load generator's clock does not. Its value is listed only for changes that produced exactly one observation: every pipeline run that follows a change (one that a status write started, say) is observed too, so a change can produce several (the count row).",
    "- **Until quiet**: from the write until the server was quiet again (see below). The bytes are what all proxies received together (xdsbench load's `window` command), by type as ACKed. TrafficPolicy status writes are updates the watch saw that left the generation alone.",
    "- p50 and p99 are nearest-rank: measured values, never interpolated; with 50 changes, p99 is the largest.",
    "- **Programmed=True seen by the watch** (policy changes): the xDS server writes the policy's status once the proxies ACKed (at once when the last proxy's answer brings every proxy to the latest run, else coalesced over 100 ms; a Pending is held up to a second, so a change the proxies take within it is one write); the next change waits for it.",
    "- Server CPU comes from /proc/<pid>/stat of the `skiff xds` process, RSS from /proc/<pid>/status.",
    "- After each change (and, for a policy, its Programmed status) the benchmark waits until the xDS server has used less than 15 ms of CPU in each of two 100 ms windows, so that the tail of a change (the recompile a status write causes) does not run into the next one. Changes written faster than that would converge later than measured here.",
    "- B5: creates are POSTs from one client; Accepted and Programmed are read from an Informer's watch on the policies (never polled), for the generation created. Programmed=True means every connected proxy that subscribes to the Service's listener, route or cluster (all N, by wildcard) runs a generation carrying the policy.",
    "- No Pods are created: compile takes endpoints from EndpointSlices, and Pods only for subset labels and mTLS identities, which this workload does not use (no Mesh). The local API server's Service range (10.0.0.0/24) is too small for 1000 Services, so a ServiceCIDR adds 10.96.0.0/16 and the API server picks the ClusterIPs.",
    "",
    "## Raw results",
    "",
    "```json",
    JSON.stringify({ settings: s, seedS: facts.seedS, pipelineCostMs: facts.pipelineCostMs }),
    ...facts.runs.flatMap((run) => [
      JSON.stringify({ mode: run.mode, connect: run.connect }),
      ...run.samples.map((sample) => JSON.stringify({ mode: run.mode, ...sample })),
      JSON.stringify({
        mode: run.mode,
        b2ServerCpuS: run.b2ServerCpuS,
        b2ServerRssMiB: run.b2ServerRssMiB,
        b2LoadCpuS: run.b2LoadCpuS,
      }),
      ...(run.b5 ? [JSON.stringify({ mode: run.mode, b5: run.b5 })] : []),
    ]),
    "```",
    "",
  ].join("\n");
}
