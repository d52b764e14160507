/** The report section of the churn benchmark (B3): Skiff beside the peer, and delta beside SotW for each. */
import { fmt } from "../shared/report.js";
import { median } from "../shared/stats.js";
import type { ChurnFiles, ChurnRun, ChurnSettings, Kind, Mode } from "./churn.js";
import { ratio, table, type Row } from "./comparison-table.js";

const KINDS: Kind[] = ["skiff", "peer"];
const modeName = (m: Mode) => (m === "sotw" ? "SotW" : "delta");
type XdsType = "cds" | "eds" | "lds" | "rds";

function typeCount(run: ChurnRun, type: XdsType, field: string): number {
  const byType = run.window.byType as Record<string, Record<string, number>>;
  return byType[type]![field]!;
}

/** The measures of one run, by name: the rows of both tables. */
function measures(run: ChurnRun, proxies: number): Record<string, number> {
  const bytes = Number(run.window.bytesReceived);
  const edsResponses = typeCount(run, "eds", "responses");
  return {
    bytesMB: bytes / 1e6,
    bytesPerChangePerProxyKB: bytes / run.changes / proxies / 1e3,
    sentMB: Number(run.window.requestBytes) / 1e6,
    responses: Number(run.window.responses),
    edsResponsesPerProxy: edsResponses / proxies,
    edsResourcesPerResponse: edsResponses ? typeCount(run, "eds", "resources") / edsResponses : Number.NaN,
    otherResponses: (["cds", "lds", "rds"] as const).reduce((n, t) => n + typeCount(run, t, "responses"), 0),
    serverCpuS: run.serverCpuS,
    serverCpuPerChangeMs: (1000 * run.serverCpuS) / run.changes,
    lastSentToAllFinalMs: run.lastSentToAllFinalMs,
    firstChangeToAllFinalMs: run.firstChangeToAllFinalMs,
    lastTakenLateMs: run.lastTakenLateMs,
    clientCpuS: Number(run.window.clientCpuSeconds),
  };
}

const LABELS: [key: string, label: string, digits: number][] = [
  ["bytesMB", "bytes received by the proxies (MB)", 1],
  ["bytesPerChangePerProxyKB", "bytes received per change per proxy (KB)", 2],
  ["responses", "responses received", 0],
  ["edsResponsesPerProxy", "EDS responses per proxy", 1],
  ["edsResourcesPerResponse", "ClusterLoadAssignments per EDS response", 1],
  ["otherResponses", "CDS, LDS and RDS responses", 0],
  ["sentMB", "bytes the proxies sent (ACKs; MB)", 2],
  ["serverCpuS", "server CPU (s)", 2],
  ["serverCpuPerChangeMs", "server CPU per change (ms)", 1],
  ["firstChangeToAllFinalMs", "first change → every proxy holds the final state (ms)", 0],
  ["lastSentToAllFinalMs", "last change sent → every proxy holds the final state (ms)", 0],
  ["lastTakenLateMs", "last change taken after it was due (ms)", 0],
  ["clientCpuS", "load generator CPU (s)", 2],
];
/** What an EDS response carried on average, in words. */
function edsContent(perResponse: number, subscribed: number): string {
  if (Number.isNaN(perResponse)) return "n/a (no run counts)";
  if (Math.abs(perResponse - subscribed) < 0.05) return `all ${subscribed} subscribed`;
  if (Math.abs(perResponse - 1) < 0.005) return "only the changed one";
  return `${fmt(perResponse, 2)} on average`;
}

const RATIO_ROWS = ["bytesMB", "bytesPerChangePerProxyKB", "responses", "sentMB", "serverCpuS"];

export function churnSection(
  runs: Map<string, ChurnRun[]>,
  settings: ChurnSettings,
  files: ChurnFiles,
  subscribedEds: number,
): { markdown: string[]; raw: string[] } {
  const n = settings.proxies;
  /** The runs that count: those in which every proxy ended with the final state. */
  const counted = (kind: Kind, mode: Mode) => runs.get(`${kind} ${mode}`)!.filter((run) => !run.failure);
  const med = (kind: Kind, mode: Mode, key: string) =>
    median(counted(kind, mode).map((run) => measures(run, n)[key]!));
  const rows: Row[] = [];
  for (const mode of settings.modes) {
    for (const [key, label, digits] of LABELS)
      rows.push({
        measure: `B3 ${modeName(mode)} N=${n}: ${label}`,
        skiff: med("skiff", mode, key),
        peer: med("peer", mode, key),
        digits,
      });
    rows.push({
      measure: `B3 ${modeName(mode)} N=${n}: longest the server's event loop was held up (ms)`,
      skiff: median(counted("skiff", mode).map((run) => run.skiff!.eventLoopDelayMaxMs)),
      peerText: "n/a (Go)",
    });
  }

  const bothModes = settings.modes.includes("sotw") && settings.modes.includes("delta");
  const deltaOverSotw = bothModes
    ? [
        "| measure (N=" + n + ") | Skiff delta/SotW | go-control-plane delta/SotW |",
        "|---|--:|--:|",
        ...RATIO_ROWS.map((key) => {
          const label = LABELS.find(([k]) => k === key)![1];
          const r = (kind: Kind) => ratio(med(kind, "delta", key), med(kind, "sotw", key));
          return `| ${label} | ${r("skiff")} | ${r("peer")} |`;
        }),
      ]
    : ["(delta/SotW needs both modes in MODES.)"];

  const all = [...runs.values()].flat();
  const encodes = all.filter((r) => r.skiff !== undefined).map((r) => r.skiff!.encodes);
  const failed = all.filter((r) => r.failure);
  const encodesOk = encodes.every((e) => e === files.changes.length);
  const perResponse = (kind: Kind) =>
    settings.modes
      .map((m) => `${modeName(m)} ${edsContent(med(kind, m, "edsResourcesPerResponse"), subscribedEds)}`)
      .join(", ");
  const others = (kind: Kind) =>
    settings.modes.map((m) => `${modeName(m)} ${fmt(med(kind, m, "otherResponses"))}`).join(", ");

  const markdown = [
    "## B3: endpoint churn",
    "",
    `With N = ${n} proxies connected and complete, each server takes ${files.changes.length} endpoint changes, ${settings.rate} per second for ${settings.seconds} s, cycling through the Services (${files.changedServices} of them change; e.g. ${files.exampleChange}). A change is one Service's endpoints changing: one new ClusterLoadAssignment.`,
    "",
    table(rows),
    "",
    ...deltaOverSotw,
    "",
    "Notes:",
    "",
    "- Both servers get the identical sequence of resources, computed beforehand by Skiff's compile and translate on the changed cluster (checked: each change alters exactly one resource, and the whole cluster after the last change translates to the fixture with the final ClusterLoadAssignments put in). The peer takes each with `apply FILE` (a new snapshot version); skiff-server with `publish FILE`, which puts it into the served translation and calls MeshSnapshots.publish, the path the pipeline takes after translate. **Compile and translate time is not part of B3**; B2 measures the whole pipeline.",
    `- The changes go out at the set pace whether or not the server has taken the previous one ("last change taken after it was due" shows a server falling behind; a server that has not taken them all ${settings.seconds} s after the last was due sustains less than half the rate, and its run stops there and fails). The window runs from the first change until every proxy holds, and has ACKed, the final content of all ${files.changedServices} changed ClusterLoadAssignments (compared by content: decoded and checked equal to what translate produced), plus 0.5 s without a response. ${failed.length === 0 ? "Every run reached it." : `**${failed.length} of ${all.length} runs did not**, and their numbers are left out (n/a where no run of a server and mode counts): ${failed.map((r) => `${r.kind} ${modeName(r.mode)}: ${r.failure}`).join("; ")}.`} Bytes are gRPC message bytes (the DiscoveryResponse as received, without HTTP/2 framing); server CPU is from /proc/<pid>/stat over the window.`,
    `- What an EDS response carried, as observed (each proxy subscribes to ${subscribedEds} ClusterLoadAssignments): Skiff ${perResponse("skiff")}; go-control-plane ${perResponse("peer")}. Both servers have one response per type in flight and wait for its ACK; changes that come in meanwhile go out together in the next response, so a proxy can get fewer EDS responses than there were changes.`,
    `- CDS, LDS and RDS responses during the churn (only endpoints changed): Skiff ${others("skiff")}; go-control-plane ${others("peer")}. The peer gives each type its own version, which \`apply\` bumps only for the types a change file names: with one version for every type (go-control-plane's NewSnapshot), its SotW server answers every watch whose type version changed, and would resend CDS, LDS and RDS whole on every endpoint change.`,
    `- skiff-server publishes the changes that are waiting when it gets to them as one generation, as the pipeline's debounce folds the changes that come in before it fires; the peer applies each change as its own snapshot version. Generations (Skiff) and snapshot versions (peer) the changes made: ${KINDS.map(
      (kind) =>
        `${kind === "skiff" ? "Skiff" : "go-control-plane"} ${settings.modes
          .map(
            (m) =>
              `${modeName(m)} ${runs
                .get(`${kind} ${m}`)!
                .map((r) => r.versions)
                .join(", ")}`,
          )
          .join(", ")}`,
    ).join("; ")} (for ${files.changes.length} changes${settings.repeat > 1 ? ", each run" : ""}).`,
    "- Skiff's event loop (skiff-server's `monitorEventLoopDelay`, 10 ms resolution): while it is held up nothing else in the server runs; its gRPC keepalive (a ping every 30 s, 10 s to answer) times out when the answer cannot be read in time, and the server then closes the connection with every stream on it.",
    `- Skiff's skiff_xds_resource_encodes_total over the window ${encodesOk ? `was ${files.changes.length} in every run: one encode per change, whatever N.` : `was ${encodes.join(", ")} for ${files.changes.length} changes.`}`,
    "",
  ];
  const raw = all.map((run) =>
    JSON.stringify({
      run: `B3 ${run.kind} ${run.mode} ${n}`,
      changes: run.changes,
      versions: run.versions,
      serverCpuS: run.serverCpuS,
      lastTakenLateMs: run.lastTakenLateMs,
      lastSentToAllFinalMs: run.lastSentToAllFinalMs,
      firstChangeToAllFinalMs: run.firstChangeToAllFinalMs,
      ...(run.skiff ? { skiff: run.skiff } : {}),
      ...(run.failure ? { failure: run.failure } : {}),
      window: run.window,
      final: run.final,
    }),
  );
  return { markdown, raw };
}
