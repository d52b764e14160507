/**
 * B12, the event loop during a push: with N proxies held and complete, one
 * Cluster changes, which is the widest push there is (a SotW proxy gets its
 * whole CDS again; a delta proxy the cluster and its endpoints). Measured are
 * the time from the server taking the change to the last proxy's ACK of it
 * (both servers), and for Skiff the longest and the p99 event-loop delay of
 * its process over that time (skiff-server's `stats`, monitorEventLoopDelay
 * at 1 ms resolution, reset just before the change).
 *
 * The change sets the cluster's alt_stat_name, a string that only affects
 * stats names, to a marker the load generator recognises (`expect`).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Child } from "../shared/child.js";
import { CLUSTER_TYPE } from "../../../src/xds/translate/resource.js";
import { peerFile, type Fixture } from "./fixture.js";

export interface PushFile {
  readonly file: string;
  readonly marker: string;
  readonly cluster: string;
}

export interface PushStall {
  /** The change command sent to the server → the last proxy ACKed it, and the 99th percentile proxy (ms). */
  readonly sentToLastAckMs: number;
  readonly sentToP99AckMs: number;
  /** Skiff only: the event loop's longest delay and p99 over the push (ms). */
  readonly eventLoopDelayMaxMs?: number;
  readonly eventLoopDelayP99Ms?: number;
}

const MARKER = "b12-push-marker";

/** Writes the change file: the first Cluster of the proxies' view with its alt_stat_name set to the marker. */
export function writePushFile(fixture: Fixture, dir: string): PushFile {
  const cluster = fixture.sidecarView.find((r) => r.typeUrl === CLUSTER_TYPE);
  if (!cluster) throw new Error("B12: the proxies' view has no Cluster to change");
  const changed = { ...cluster, json: { ...cluster.json, alt_stat_name: MARKER } };
  const file = join(dir, "push-cluster.json");
  writeFileSync(file, JSON.stringify(peerFile([changed])));
  return { file, marker: MARKER, cluster: cluster.name };
}

const json = async (child: Child, what: string, accept: (e: Record<string, unknown>) => boolean) =>
  JSON.parse(
    await child.line(
      (l) => l.startsWith("{") && accept(JSON.parse(l) as Record<string, unknown>),
      what,
      120_000,
    ),
  ) as Record<string, unknown>;

/**
 * Pushes the change to a server whose proxies (`load`, started with --hold)
 * are all complete, and waits for every proxy's ACK of it.
 */
export async function pushStall(
  kind: "skiff" | "peer",
  server: Child,
  load: Child,
  push: PushFile,
): Promise<PushStall> {
  load.send(`expect b12 ${push.marker}`);
  await json(load, "expect-armed", (e) => e.event === "expect-armed" && e.id === "b12");
  if (kind === "skiff") {
    server.send("stats"); // resets the event-loop histogram
    await json(server, "stats", (e) => "eventLoopDelayMaxMs" in e);
  }
  // From the command, not its answer: the peer's proxies can ACK before its answer is read.
  const sentAt = Date.now();
  server.send(`${kind === "skiff" ? "publish" : "apply"} ${push.file}`);
  const answer = await server.line((l) => /^(APPLIED|PUBLISHED|ERROR) /.test(l), "its answer", 60_000);
  if (answer.startsWith("ERROR")) throw new Error(`B12: ${kind} rejected ${push.file}: ${answer}`);
  const acked = await json(
    load,
    "every proxy's ACK of the push",
    (e) => e.event === "expect" && e.id === "b12",
  );
  const stats =
    kind === "skiff"
      ? (server.send("stats"), await json(server, "stats", (e) => "eventLoopDelayMaxMs" in e))
      : undefined;
  return {
    sentToLastAckMs: Math.round(Number(acked.lastAckUnixMs) - sentAt),
    sentToP99AckMs: Math.round(Number(acked.p99AckUnixMs) - sentAt),
    ...(stats
      ? {
          eventLoopDelayMaxMs: Number(stats.eventLoopDelayMaxMs),
          eventLoopDelayP99Ms: Number(stats.eventLoopDelayP99Ms),
        }
      : {}),
  };
}
