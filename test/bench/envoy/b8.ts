/**
 * B8: one change at a time written to the real API server (the convergence
 * benchmark's changes: an EndpointSlice address, a TrafficPolicy route), timed
 * from the write request being sent until every Envoy serves it, as each
 * Envoy's own admin endpoint shows: its config_dump, narrowed by name_regex to
 * the one resource the change touches (the Service's ClusterLoadAssignment, or
 * its RouteConfiguration), holds the change's marker.
 *
 * Every Envoy is polled at once, each in its own loop: a request, and `pollMs`
 * after each answer without the marker the next. An Envoy's time is when the
 * first answer holding the marker arrived, so it is late by up to one poll
 * interval plus one admin request.
 */
import type { KubernetesObject } from "@kubernetes/client-node";
import type { Change, ChangeKind } from "../convergence/changes.js";
import { cpuSeconds } from "../shared/proc.js";
import { NAMESPACE } from "../xds/fixture.js";
import { adminGet } from "./admin.js";
import type { Envoy } from "./envoys.js";
import { escapeRegExp } from "./regexp.js";

export interface B8Sample {
  kind: ChangeKind;
  id: string;
  /** Not in the statistics: the first change of each kind after the Envoys connected. */
  warmup: boolean;
  /** The write request's round trip, ms. */
  writeMs: number;
  /** Per Envoy, ms from the write being sent to its first admin answer holding the marker; null if none in time. */
  seenMs: (number | null)[];
  /** Admin requests made to see it, all Envoys. */
  polls: number;
  /** The size of the answer in which the first Envoy showed the marker: what one poll reads. */
  answerBytes: number;
  /**
   * CPU used from the write until every Envoy showed it: by all the Envoys together (applying the
   * update, and answering the polls), and by `skiff xds`. On 2 cores, the Envoys' share alone bounds
   * how soon the last one can have it.
   */
  envoysCpuMs: number;
  xdsCpuMs: number;
}

/**
 * The admin path that shows the one resource a change touches: for an
 * EndpointSlice, the EDS of its Service (outbound|<port>||<host>); for the
 * TrafficPolicy, the route configuration of its Service (<host>:<port>).
 */
function probePath(kind: ChangeKind, service: string): string {
  const host = escapeRegExp(`${service}.${NAMESPACE}.svc.cluster.local`);
  const query =
    kind === "endpoints"
      ? `resource=dynamic_endpoint_configs&include_eds&name_regex=${encodeURIComponent(`outbound\\|\\d+\\|\\|${host}`)}`
      : `resource=dynamic_route_configs&name_regex=${encodeURIComponent(`${host}:\\d+`)}`;
  return `/config_dump?${query}`;
}

/** The Service a written object belongs to: an EndpointSlice's label, a TrafficPolicy's targetRef. */
function serviceOf(kind: ChangeKind, written: KubernetesObject): string {
  const service =
    kind === "endpoints"
      ? written.metadata?.labels?.["kubernetes.io/service-name"]
      : (written as { spec?: { targetRef?: { name?: string } } }).spec?.targetRef?.name;
  if (!service) throw new Error(`${written.kind} ${written.metadata?.name}: no Service`);
  return service;
}

/**
 * Polls every Envoy at once at `path` until its answer holds `marker` or the
 * deadline passes: per Envoy, ms from `since` to its first answer holding it
 * (null if none in time).
 */
async function pollUntil(
  envoys: readonly Envoy[],
  path: string,
  marker: string,
  pollMs: number,
  since: number,
  deadline: number,
): Promise<{ seenMs: (number | null)[]; polls: number; answerBytes: number }> {
  let polls = 0;
  let answerBytes = 0;
  const seenMs = await Promise.all(
    envoys.map(async (envoy) => {
      for (;;) {
        polls += 1;
        const body = await adminGet(envoy.adminPort, path).catch(() => "");
        const now = performance.now();
        if (body.includes(marker)) {
          if (envoy === envoys[0]) answerBytes = Buffer.byteLength(body);
          return now - since;
        }
        if (now > deadline) return null;
        await new Promise((resolve) => setTimeout(resolve, pollMs));
      }
    }),
  );
  return { seenMs, polls, answerBytes };
}

const envoysCpuSeconds = (envoys: readonly Envoy[]) =>
  envoys.reduce((sum, e) => sum + cpuSeconds(e.child.pid), 0);

/**
 * What the polling alone costs the Envoys: `durationMs` of it with no change
 * to see, and as long without it (what idle Envoys use).
 */
export interface PollingCost {
  durationMs: number;
  polls: number;
  envoysCpuMs: number;
  idleDurationMs: number;
  idleEnvoysCpuMs: number;
}

/**
 * Reads the CPU the Envoys use for `durationMs` left alone, then for as long
 * polled as measureChange polls them, for a marker that never comes: the
 * difference is the share of a change's Envoy CPU that is the benchmark's own
 * reading. (A timed wait, on purpose: it is the idle window measured.)
 */
export async function measurePollingCost(
  envoys: readonly Envoy[],
  service: string,
  pollMs: number,
  durationMs: number,
): Promise<PollingCost> {
  const idle0 = envoysCpuSeconds(envoys);
  const idleStart = performance.now();
  await new Promise((resolve) => setTimeout(resolve, durationMs));
  const idleDurationMs = performance.now() - idleStart;
  const idleEnvoysCpuMs = (envoysCpuSeconds(envoys) - idle0) * 1000;
  const cpu0 = envoysCpuSeconds(envoys);
  const start = performance.now();
  const { polls } = await pollUntil(
    envoys,
    probePath("policy", service),
    "\0no such marker",
    pollMs,
    start,
    start + durationMs,
  );
  return {
    durationMs: performance.now() - start,
    polls,
    envoysCpuMs: (envoysCpuSeconds(envoys) - cpu0) * 1000,
    idleDurationMs,
    idleEnvoysCpuMs,
  };
}

export async function measureChange(
  change: Change,
  warmup: boolean,
  envoys: readonly Envoy[],
  pollMs: number,
  timeoutMs: number,
  xdsPid: number,
): Promise<B8Sample> {
  const envoysCpu0 = envoysCpuSeconds(envoys);
  const xdsCpu0 = cpuSeconds(xdsPid);
  const sent = performance.now();
  const written = await change.write();
  const writeMs = performance.now() - sent;
  const path = probePath(change.kind, serviceOf(change.kind, written));
  const { seenMs, polls, answerBytes } = await pollUntil(
    envoys,
    path,
    change.marker,
    pollMs,
    sent,
    sent + timeoutMs,
  );
  return {
    kind: change.kind,
    id: change.id,
    warmup,
    writeMs,
    seenMs,
    polls,
    answerBytes,
    envoysCpuMs: (envoysCpuSeconds(envoys) - envoysCpu0) * 1000,
    xdsCpuMs: (cpuSeconds(xdsPid) - xdsCpu0) * 1000,
  };
}
