/**
 * B3, endpoint churn: with N proxies connected and complete, the server
 * takes R endpoint changes per second for T seconds; measured over that
 * window are the bytes the proxies received and sent, by type, and the
 * server's CPU seconds, for SotW and delta.
 *
 * - The changes (churn-changes.ts) are precomputed with Skiff's compile and
 *   translate, written as change files, and given to both servers in the
 *   same order at the same pace: `apply FILE` to the peer, `publish FILE` to
 *   skiff-server (MeshSnapshots.publish, as the pipeline does after
 *   translate; changes that wait together go out as one generation, as the
 *   pipeline's debounce folds them). Compile time is not part of B3; B2
 *   covers the pipeline.
 * - The pace is open loop: change i is sent when it is due, whether or not
 *   the server has taken the previous one, and the time each is taken is
 *   recorded, so that a server that falls behind shows it.
 * - The window starts at the first change and ends once every proxy holds,
 *   and has ACKed, the final content of every changed ClusterLoadAssignment
 *   (`xdsbench load`'s `final` and `await-final`, which compare content) and
 *   no response has arrived for 0.5 s. A run in which some proxy does not
 *   get there (its stream ended, or the timeout passed), or in which the
 *   server has not taken every change by the churn's length after the last
 *   was due (it sustains less than half the rate), is reported as failed,
 *   with the reason, and its numbers do not count.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Child } from "../shared/child.js";
import { cpuSeconds } from "../shared/proc.js";
import { round } from "../shared/stats.js";
import { churnChanges } from "./churn-changes.js";
import { peerFile, type Fixture, type FixtureOptions } from "./fixture.js";
import type { Mode } from "../shared/xdsbench.js";

export type { Mode };
export type Kind = "skiff" | "peer";

export interface ChurnSettings {
  readonly proxies: number;
  readonly seconds: number;
  /** Changes per second. */
  readonly rate: number;
  readonly modes: readonly Mode[];
  readonly repeat: number;
  readonly timeoutS: number;
}

/** What the churn runs need from the benchmark that hosts them. */
export interface ChurnHarness {
  startServer(kind: Kind): Promise<{ readonly child: Child; readonly address: string }>;
  startLoad(target: string, proxies: number, mode: Mode, prefix: string, extra: string[]): Child;
  log(message: string): void;
}

export interface ChurnFiles {
  /** One change file per change, in order (the peer's resource-file format). */
  readonly changes: readonly string[];
  /** The final content of every changed resource, for the load generator's check. */
  readonly final: string;
  readonly changedServices: number;
  readonly exampleChange: string;
}

type Json = Record<string, number | string | boolean | Record<string, unknown>>;

export interface ChurnRun {
  readonly kind: Kind;
  readonly mode: Mode;
  /** What the proxies received and sent over the window (`xdsbench load`'s `window`). */
  readonly window: Json;
  /** The final-state check (`await-final`); absent when the server fell behind taking the changes. */
  readonly final?: Json;
  readonly changes: number;
  /** How many generations (Skiff: changes waiting together go out as one) or snapshot versions the changes made. */
  readonly versions: number;
  readonly serverCpuS: number;
  /** When the server had taken the last change (answered its command), after it was due (ms). */
  readonly lastTakenLateMs: number;
  readonly lastSentToAllFinalMs: number;
  readonly firstChangeToAllFinalMs: number;
  /** Skiff's skiff_xds_resource_encodes_total over the window, and the longest its event loop was held up. */
  readonly skiff?: { readonly encodes: number; readonly eventLoopDelayMaxMs: number };
  /** Why the proxies did not all end with the final state; the run's numbers do not count. */
  readonly failure?: string;
}

/** Computes the changes and writes the change files and the final-state file under dir. */
export function writeChurnFiles(
  options: FixtureOptions,
  fixture: Fixture,
  settings: ChurnSettings,
  dir: string,
): ChurnFiles {
  const count = Math.round(settings.seconds * settings.rate);
  if (count < 1) throw new Error("B3: CHURN_SECONDS × CHURN_RATE must be at least one change");
  const { changes, final } = churnChanges(options, fixture, count);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const files = changes.map((change, i) => {
    const file = join(dir, `change-${String(i).padStart(6, "0")}.json`);
    writeFileSync(file, JSON.stringify(peerFile([change.resource])));
    return file;
  });
  const finalFile = join(dir, "final.json");
  writeFileSync(finalFile, JSON.stringify(peerFile(final)));
  const first = changes[0]!;
  return {
    changes: files,
    final: finalFile,
    changedServices: final.length,
    exampleChange: `Pod ${first.pod} of Service ${first.service} moves to ${first.address}`,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** skiff-server's counters; the event-loop delay is since the previous call. */
async function skiffStats(server: Child): Promise<Record<string, number>> {
  server.send("stats");
  return (await server.json("stats", 60_000)) as Record<string, number>;
}

/** One churn run on a fresh server. */
export async function churnRun(
  harness: ChurnHarness,
  files: ChurnFiles,
  settings: ChurnSettings,
  kind: Kind,
  mode: Mode,
): Promise<ChurnRun> {
  const timeoutMs = settings.timeoutS * 1000;
  const { child: server, address } = await harness.startServer(kind);
  const load = harness.startLoad(address, settings.proxies, mode, `${kind}-${mode}-churn`, [
    "--hold",
    "36000",
  ]);
  const fail = (what: string, result: unknown) =>
    new Error(`B3 ${kind} ${mode} N=${settings.proxies}: ${what}: ${JSON.stringify(result)}`);
  try {
    const cold = await load.json("its cold start", timeoutMs + 60_000);
    if (cold.event !== "complete" || cold.failures !== 0) throw fail("cold start", cold);
    load.send(`final ${files.final}`);
    const armed = await load.json("final-armed", 60_000);
    if (armed.event !== "final-armed" || armed.resources !== files.changedServices)
      throw fail("arming the final-state check", armed);
    const stats0 = kind === "skiff" ? await skiffStats(server) : undefined;

    load.send("window");
    await load.json("the window's start", 60_000);
    const cpu0 = cpuSeconds(server.pid);
    const start = Date.now();
    const interval = 1000 / settings.rate;
    const lastDue = start + (files.changes.length - 1) * interval;
    // A server still taking changes the churn's length after the last was due sustains less than half the
    // rate: the run stops there rather than wait for a backlog that only grows with the length of the churn.
    const takeBy = lastDue + settings.seconds * 1000;
    const taken: number[] = [];
    /** The generations (Skiff) or snapshot versions (peer) the changes went out in. */
    const versions = new Set<string>();
    // The server answers each change with one line; they are read while the changes go out.
    const answers = (async () => {
      for (const file of files.changes) {
        let line: string;
        try {
          line = await server.line(
            (l) => /^(APPLIED|PUBLISHED|ERROR) /.test(l),
            `the answer to ${file}`,
            Math.max(1, takeBy - Date.now()),
          );
        } catch (err) {
          if (Date.now() >= takeBy) return false;
          throw err;
        }
        if (line.startsWith("ERROR")) throw new Error(`${kind} rejected ${file}: ${line}`);
        taken.push(Date.now());
        versions.add(line.slice(line.indexOf(" ") + 1));
      }
      return true;
    })();
    answers.catch(() => {}); // awaited below; this only keeps an early rejection from being unhandled
    const verb = kind === "skiff" ? "publish" : "apply";
    let lastSent = start;
    for (const [i, file] of files.changes.entries()) {
      await sleep(start + i * interval - Date.now());
      server.send(`${verb} ${file}`);
      lastSent = Date.now();
    }
    const keptUp = await answers;

    let final: Json | undefined;
    if (keptUp) {
      load.send(`await-final ${settings.timeoutS}`);
      final = (await load.json("the final state", timeoutMs + 60_000)) as Json;
      if (final.event !== "final") throw fail("await-final", final);
    }
    const serverCpuS = round(cpuSeconds(server.pid) - cpu0);
    load.send("window");
    const window = (await load.json("the window", 60_000)) as Json;
    if (window.event !== "window") throw fail("window", window);
    const stats1 = stats0 ? await skiffStats(server) : undefined;
    const failure = !final
      ? `the server took ${taken.length} of ${files.changes.length} changes by ${settings.seconds} s after the last was due (${(taken.length / ((takeBy - start) / 1000)).toFixed(2)} changes/s)`
      : final.holding === settings.proxies && final.failures === 0
        ? undefined
        : [
            `${final.holding} of ${settings.proxies} proxies held the final state`,
            ...(final.failures
              ? [`${final.failures} streams ended, the first with: ${final.firstError}`]
              : []),
            ...(final.timedOut ? [`timed out after ${settings.timeoutS} s`] : []),
          ].join("; ");
    const lastHolding = final ? Number(final.lastHoldingUnixMs) : Number.NaN;
    const lastTaken = keptUp ? taken[taken.length - 1]! : Number.NaN;
    return {
      kind,
      mode,
      window,
      final,
      changes: files.changes.length,
      versions: versions.size,
      serverCpuS,
      lastTakenLateMs: lastTaken - lastDue,
      lastSentToAllFinalMs: lastHolding - lastSent,
      firstChangeToAllFinalMs: lastHolding - start,
      ...(stats0 && stats1
        ? {
            skiff: {
              encodes: stats1.encodes! - stats0.encodes!,
              eventLoopDelayMaxMs: stats1.eventLoopDelayMaxMs!,
            },
          }
        : {}),
      ...(failure ? { failure } : {}),
    };
  } finally {
    await load.stop();
    // Let the server see the connections close: grpc-js' tryShutdown can miss a close racing with it.
    await sleep(1000);
    await server.stop();
  }
}

/** Every churn run, the servers alternating; keyed by `${kind} ${mode}`. */
export async function runChurn(
  harness: ChurnHarness,
  files: ChurnFiles,
  settings: ChurnSettings,
): Promise<Map<string, ChurnRun[]>> {
  const runs = new Map<string, ChurnRun[]>();
  for (const mode of settings.modes)
    for (let r = 1; r <= settings.repeat; r++)
      for (const kind of ["skiff", "peer"] as const) {
        const of = settings.repeat > 1 ? ` (run ${r} of ${settings.repeat})` : "";
        harness.log(
          `B3 ${kind} ${mode} N=${settings.proxies}: ${files.changes.length} changes at ${settings.rate}/s${of}`,
        );
        const run = await churnRun(harness, files, settings, kind, mode);
        runs.set(`${kind} ${mode}`, [...(runs.get(`${kind} ${mode}`) ?? []), run]);
        const { byType: _, ...window } = run.window;
        harness.log(
          `  ${JSON.stringify({ ...window, serverCpuS: run.serverCpuS, lastSentToAllFinalMs: run.lastSentToAllFinalMs, ...run.skiff })}`,
        );
        if (run.failure) harness.log(`  FAILED: ${run.failure}`);
      }
  return runs;
}
