/**
 * A sidecar's Envoy as its admin endpoint (127.0.0.1:15000 in the Pod's
 * network namespace) shows it: counters and gauges, what they grew by while
 * a test acted, the config_dump, the endpoints of /clusters; and bounded
 * polling, because Envoy's admin has nothing to watch: a test that waits for
 * Envoy's state can only read it again.
 *
 * Every read runs curl in the Pod as the proxy's uid (exec's `container:
 * "skiff-proxy"`), which iptables does not capture, so the request reaches
 * the admin endpoint itself rather than the sidecar's outbound listeners.
 */
import type { JsonObject } from "@bufbuild/protobuf";
import { exec } from "./kit.js";

/**
 * A GET (or POST, for the admin endpoints that change state) on a sidecar's
 * admin endpoint; its body. Fails when curl does, on an HTTP error too (-f):
 * a test must not read an error page as stats.
 */
export async function envoyAdmin(
  namespace: string,
  pod: string,
  path: string,
  method: "GET" | "POST" = "GET",
): Promise<string> {
  // curl's -m bounds a hung admin; exec's timeout bounds the rest (entering the netns).
  const command = ["curl", "-sSf", "-m", "10", "-X", method, `http://127.0.0.1:15000${path}`];
  const result = await exec(namespace, pod, command, { container: "skiff-proxy", timeoutMs: 15_000 });
  if (result.code !== 0)
    throw new Error(
      `admin ${path} of ${namespace}/${pod}: curl exited ${result.code}: ${result.stderr.trim()}`,
    );
  return result.stdout;
}

// --- stats ------------------------------------------------------------------

/**
 * A sidecar's counters and gauges by name (histograms left out): all of
 * them, or those whose names match `filter`, a regular expression (Envoy's
 * /stats?filter=).
 */
export async function envoyStats(
  namespace: string,
  pod: string,
  filter?: string,
): Promise<Map<string, number>> {
  const query = filter === undefined ? "" : `?filter=${encodeURIComponent(filter)}`;
  const stats = new Map<string, number>();
  for (const line of (await envoyAdmin(namespace, pod, `/stats${query}`)).split("\n")) {
    const match = /^(\S+): (\d+)$/.exec(line.trim());
    if (match) stats.set(match[1]!, Number(match[2]));
  }
  return stats;
}

/**
 * One counter or gauge, by its full name; undefined while Envoy has not
 * created it (it creates a stat when it first uses it).
 */
export async function envoyStat(namespace: string, pod: string, name: string): Promise<number | undefined> {
  return (await envoyStats(namespace, pod, `^${escapeRegExp(name)}$`)).get(name);
}

/**
 * A stat's value in what {@link envoyStats} read, 0 when absent (not
 * created yet means not counted yet). A name `*.<suffix>` sums every stat
 * that ends in `.<suffix>`: an HTTP filter's stats carry the listener's
 * prefix, as `*.fault.aborts_injected` does.
 */
export function statValue(stats: Map<string, number>, name: string): number {
  if (!name.startsWith("*.")) return stats.get(name) ?? 0;
  let sum = 0;
  for (const [stat, value] of stats) if (stat.endsWith(name.slice(1))) sum += value;
  return sum;
}

/** Stat names to watch, by Pod: `{ client: ["cluster.<name>.upstream_rq_total"] }`. */
export type WatchedStats = Record<string, string[]>;

/**
 * How much each watched stat grew while `action` ran (each Pod's sidecar
 * read just before and just after it), keyed `<pod>: <stat>` in the order
 * watched; the names as {@link statValue} takes them. With the action's
 * own result.
 */
export async function statDeltas<T>(
  namespace: string,
  watch: WatchedStats,
  action: () => Promise<T>,
): Promise<{ result: T; deltas: Record<string, number> }> {
  const pods = Object.keys(watch);
  const read = () => Promise.all(pods.map((pod) => envoyStats(namespace, pod)));
  const before = await read();
  const result = await action();
  const after = await read();
  const deltas: Record<string, number> = {};
  pods.forEach((pod, i) => {
    for (const name of watch[pod]!)
      deltas[`${pod}: ${name}`] = statValue(after[i]!, name) - statValue(before[i]!, name);
  });
  return { result, deltas };
}

// --- /clusters --------------------------------------------------------------

/** Every endpoint a sidecar holds, from one read of /clusters: cluster → address → health flags. */
async function clusterEndpoints(namespace: string, pod: string): Promise<Map<string, Map<string, string>>> {
  const clusters = new Map<string, Map<string, string>>();
  // An endpoint's lines are <cluster>::<address>::<field>::<value>, health_flags one of the fields.
  for (const line of (await envoyAdmin(namespace, pod, "/clusters")).split("\n")) {
    const [cluster, address, field, value] = line.split("::");
    if (field !== "health_flags" || !cluster || !address || value === undefined) continue;
    clusters.set(cluster, (clusters.get(cluster) ?? new Map<string, string>()).set(address, value));
  }
  return clusters;
}

/**
 * The endpoints a sidecar holds for one cluster, as its /clusters lists
 * them: address (ip:port) → health flags, "healthy" or what made the
 * endpoint unhealthy ("/failed_outlier_check"...). Empty when it has no
 * such cluster.
 */
export async function endpointHealth(
  namespace: string,
  pod: string,
  cluster: string,
): Promise<Map<string, string>> {
  return (await clusterEndpoints(namespace, pod)).get(cluster) ?? new Map<string, string>();
}

const healthy = (endpoints: Map<string, string> | undefined) =>
  [...(endpoints ?? [])].filter(([, flags]) => flags === "healthy").map(([address]) => address);

/** The addresses (ip:port) of a cluster's healthy endpoints in a sidecar, sorted. */
export async function healthyEndpoints(namespace: string, pod: string, cluster: string): Promise<string[]> {
  return healthy(await endpointHealth(namespace, pod, cluster)).sort();
}

/**
 * Waits until a sidecar holds a healthy endpoint of every cluster named. A
 * Pod can turn Ready before the Services it calls reach its sidecar, and a
 * Service's Pods reach its EndpointSlices, then EDS, a moment after they
 * turn Ready.
 */
export async function waitForHealthyEndpoints(
  namespace: string,
  pod: string,
  clusters: string[],
  options?: PollOptions,
): Promise<void> {
  await eventually(
    `${namespace}/${pod}'s sidecar to hold a healthy endpoint of each of ${clusters.length} clusters`,
    async () => {
      const held = await clusterEndpoints(namespace, pod);
      const missing = clusters.filter((cluster) => healthy(held.get(cluster)).length === 0);
      if (missing.length > 0) throw new Error(`no healthy endpoint yet for ${missing.join(", ")}`);
      return true;
    },
    options,
  );
}

/**
 * Waits until a sidecar holds exactly `count` healthy endpoints of each
 * cluster named (cluster → count): every replica a test is about to count
 * requests on has reached the caller, not only turned Ready.
 */
export async function waitForEndpointCounts(
  namespace: string,
  pod: string,
  counts: Record<string, number>,
  options?: PollOptions,
): Promise<void> {
  await eventually(
    `${namespace}/${pod}'s sidecar to hold ${JSON.stringify(counts)} healthy endpoints`,
    async () => {
      const held = await clusterEndpoints(namespace, pod);
      const wrong = Object.entries(counts)
        .map(([cluster, count]) => [cluster, count, healthy(held.get(cluster)).length] as const)
        .filter(([, count, seen]) => seen !== count);
      if (wrong.length > 0)
        throw new Error(wrong.map(([c, count, seen]) => `${c}: ${seen} healthy, want ${count}`).join("; "));
      return true;
    },
    options,
  );
}

// --- config_dump ------------------------------------------------------------

/**
 * A dynamic resource in a sidecar's config_dump: the version it came with
 * (endpoints have none there) and the resource itself, the message rather
 * than the Any that the dump prints (no "@type").
 */
export interface DumpedResource {
  version: string | undefined;
  resource: JsonObject;
}

/** The kinds of dynamic resources, as xDS serves them (LDS, CDS, RDS, EDS). */
export type ResourceKind = "listeners" | "clusters" | "routes" | "endpoints";

/**
 * Every dynamic resource a sidecar holds, EDS's included, by kind and name
 * (names sorted). Versions and contents only: the dump's times of last
 * update are left out, so two reads of an unchanged Envoy are equal.
 */
export async function dynamicResources(
  namespace: string,
  pod: string,
): Promise<Record<ResourceKind, Record<string, DumpedResource>>> {
  const dump = JSON.parse(await envoyAdmin(namespace, pod, "/config_dump?include_eds")) as {
    configs: JsonObject[];
  };
  type Entry = JsonObject & { version_info?: string };
  const entries = (type: string, field: string): Entry[] => {
    const section = dump.configs.find((c) => c["@type"] === `type.googleapis.com/envoy.admin.v3.${type}`);
    if (!section) throw new Error(`${namespace}/${pod}'s config_dump has no ${type}`);
    return (section[field] ?? []) as Entry[];
  };
  const byName = (list: [string, DumpedResource][]) =>
    Object.fromEntries(list.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const dumped = (version: string | undefined, any: JsonObject): DumpedResource => {
    const { "@type": _type, ...resource } = any;
    return { version, resource };
  };
  return {
    listeners: byName(
      entries("ListenersConfigDump", "dynamic_listeners").map((l) => {
        // A listener still warming has no active state yet; it is not held.
        const active = l.active_state as Entry | undefined;
        if (!active) throw new Error(`${namespace}/${pod}'s listener ${String(l.name)} is not active`);
        return [l.name as string, dumped(active.version_info, active.listener as JsonObject)];
      }),
    ),
    clusters: byName(
      entries("ClustersConfigDump", "dynamic_active_clusters").map((c) => {
        const cluster = c.cluster as JsonObject;
        return [cluster.name as string, dumped(c.version_info, cluster)];
      }),
    ),
    routes: byName(
      entries("RoutesConfigDump", "dynamic_route_configs").map((r) => {
        const route = r.route_config as JsonObject;
        return [route.name as string, dumped(r.version_info, route)];
      }),
    ),
    endpoints: byName(
      entries("EndpointsConfigDump", "dynamic_endpoint_configs").map((e) => {
        const assignment = e.endpoint_config as JsonObject;
        return [assignment.cluster_name as string, dumped(e.version_info, assignment)];
      }),
    ),
  };
}

/** The entries of one resource of a sidecar's config_dump (`dynamic_listeners`...): a smaller read than the whole. */
async function configDump(namespace: string, pod: string, resource: string): Promise<JsonObject[]> {
  const dump = JSON.parse(await envoyAdmin(namespace, pod, `/config_dump?resource=${resource}`)) as {
    configs?: JsonObject[];
  };
  return dump.configs ?? [];
}

/** A listener a sidecar has active, by name (`virtualInbound`, `<ClusterIP>_<port>`). */
export async function dumpedListener(namespace: string, pod: string, name: string): Promise<JsonObject> {
  const found = (await configDump(namespace, pod, "dynamic_listeners")).find((l) => l.name === name);
  const active = (found?.active_state as JsonObject | undefined)?.listener as JsonObject | undefined;
  if (!active) throw new Error(`${namespace}/${pod}'s sidecar has no active listener ${name}`);
  return active;
}

/** A cluster a sidecar holds, by name (`outbound|<port>||<host>`, `inbound|<port>||`). */
export async function dumpedCluster(namespace: string, pod: string, name: string): Promise<JsonObject> {
  const found = (await configDump(namespace, pod, "dynamic_active_clusters"))
    .map((c) => c.cluster as JsonObject)
    .find((c) => c.name === name);
  if (!found) throw new Error(`${namespace}/${pod}'s sidecar has no cluster ${name}`);
  return found;
}

// --- polling ----------------------------------------------------------------

/** How long and how often {@link eventually} and {@link readUntil} read. */
export interface PollOptions {
  /** Give up after this long (default 60 s). */
  timeoutMs?: number;
  /** Wait this long between reads (default 250 ms). */
  intervalMs?: number;
}

/**
 * Calls `check` until it returns a value (anything but undefined), and
 * returns that. A `check` that throws counts as "not yet": the admin is
 * down while Envoy restarts, a resource has not arrived. After `timeoutMs`
 * it fails, naming `what` and the last error.
 */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  options: PollOptions = {},
): Promise<T> {
  const outcome = await poll(check, (value) => value !== undefined, options);
  if (outcome.done) return outcome.value as T;
  throw new Error(`timed out after ${outcome.timeoutMs} ms waiting for ${what}${lastError(outcome.error)}`);
}

/**
 * Reads `read` until `accept` holds for what it read, and returns that:
 * {@link eventually} for a reading that is a value in any case, whose last
 * value the timeout's message shows (as JSON, or what `show` makes of it:
 * the count that matters of a whole /stats, say).
 */
export async function readUntil<T>(
  what: string,
  read: () => Promise<T>,
  accept: (value: T) => boolean,
  options: PollOptions & { show?: (value: T) => unknown } = {},
): Promise<T> {
  const outcome = await poll(read, accept, options);
  if (outcome.done) return outcome.value as T;
  const shown = outcome.read ? (options.show ?? ((value: T) => value))(outcome.value as T) : undefined;
  const last = outcome.read ? `; last read: ${JSON.stringify(shown)}` : "";
  throw new Error(
    `timed out after ${outcome.timeoutMs} ms waiting for ${what}${last}${lastError(outcome.error)}`,
  );
}

interface PollOutcome<T> {
  done: boolean;
  /** Whether any read succeeded, and the last value read. */
  read: boolean;
  value: T | undefined;
  error: unknown;
  timeoutMs: number;
}

async function poll<T>(
  read: () => Promise<T>,
  accept: (value: T) => boolean,
  { timeoutMs = 60_000, intervalMs = 250 }: PollOptions,
): Promise<PollOutcome<T>> {
  const deadline = Date.now() + timeoutMs;
  const outcome: PollOutcome<T> = { done: false, read: false, value: undefined, error: undefined, timeoutMs };
  for (;;) {
    try {
      outcome.value = await read();
      outcome.read = true;
      if (accept(outcome.value)) return { ...outcome, done: true };
    } catch (error) {
      outcome.error = error;
    }
    if (Date.now() > deadline) return outcome;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

function lastError(error: unknown): string {
  if (error === undefined) return "";
  return `; last error: ${error instanceof Error ? error.message : String(error)}`;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
