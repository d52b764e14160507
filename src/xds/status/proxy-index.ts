import { proxyIdentity } from "../node.js";
import type { Nack, ProxyState } from "../server/proxy-state.js";
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE } from "../translate/resource.js";
import type { Programming } from "./programming.js";

/** What a policy's counts need of one proxy, read once per status pass. */
interface CountedProxy {
  /** The newest generation it ran in full; -1 before its first. */
  readonly ran: number;
  readonly proxyless: boolean;
  /** Its NACKs that no later ACK of their type superseded, in push order of the types. */
  readonly standingNacks: readonly Nack[];
}

/** Proxies that every policy of some kind counts together, with their counts prepared. */
class ProxyGroup {
  private readonly members: CountedProxy[] = [];
  private ranAscending: number[] | undefined;
  private proxyless = 0;

  add(proxy: CountedProxy): void {
    this.members.push(proxy);
    if (proxy.proxyless) this.proxyless += 1;
    this.ranAscending = undefined;
  }

  /** Adds this group's counts for `generation` into `into`. */
  countInto(into: Counts, generation: number): void {
    this.ranAscending ??= this.members.map((m) => m.ran).sort((a, b) => a - b);
    into.targeted += this.members.length;
    into.proxyless += this.proxyless;
    into.acked += this.members.length - firstAtLeast(this.ranAscending, generation);
    for (const member of this.members) {
      if (member.standingNacks.length === 0) continue;
      const nack = member.standingNacks.find((n) => n.generation >= generation);
      if (!nack) continue;
      into.nacked += 1;
      // A proxy whose answer since this generation is a NACK runs it in part at best.
      if (member.ran >= generation) into.acked -= 1;
      if (!into.lastNack || nack.at > into.lastNack.at) into.lastNack = nack;
    }
  }

  /**
   * Adds the counts for `generation` of the members that have not run it:
   * for a group whose view lacks a Service, those that may still get it.
   */
  countBehindInto(into: Counts, generation: number): void {
    for (const member of this.members) {
      if (member.ran >= generation) continue;
      into.targeted += 1;
      if (member.proxyless) into.proxyless += 1;
      const nack = member.standingNacks.find((n) => n.generation >= generation);
      if (!nack) continue;
      into.nacked += 1;
      if (!into.lastNack || nack.at > into.lastNack.at) into.lastNack = nack;
    }
  }
}

interface Counts {
  targeted: number;
  proxyless: number;
  acked: number;
  nacked: number;
  lastNack?: Nack;
}

/** The index of the first element of `ascending` that is at least `value` (its length if none is). */
function firstAtLeast(ascending: readonly number[], value: number): number {
  let low = 0;
  let high = ascending.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (ascending[middle]! < value) low = middle + 1;
    else high = middle;
  }
  return low;
}

const CONFIG_TYPES = new Set([LISTENER_TYPE, ROUTE_TYPE, CLUSTER_TYPE]);

/** Each subscription list as a set, made once: the stream shares one sorted list per subscription. */
const listSets = new WeakMap<readonly string[], ReadonlySet<string>>();
function asSet(list: readonly string[]): ReadonlySet<string> {
  let set = listSets.get(list);
  if (!set) listSets.set(list, (set = new Set(list)));
  return set;
}

/**
 * The connected proxies, indexed once per status pass so that each policy's
 * counts cost little: for 1000 policies and 1000 proxies, counting each
 * policy over every proxy (and every name each subscribes to) made a pass
 * cost seconds. Proxies that subscribe alike (the same listener, route and
 * cluster subscriptions, or a wildcard to any, as every sidecar of a mesh
 * without scoping does) form one group, whose generations are sorted once;
 * a policy's counts are then a binary search per group it targets. Proxies
 * are also grouped by workload, for the security policies.
 *
 * A proxy counts once it has run a configuration in full or rejected one:
 * one still receiving its first serves no traffic yet (Envoy holds its
 * listeners, a gRPC client its calls, until then), and counting it would
 * turn every policy Pending and back at every connection. Pure.
 */
export class ProxyIndex {
  private readonly bySubscription = new Map<string, { lists: readonly string[][]; group: ProxyGroup }>();
  /**
   * Wildcard subscribers by the ClusterLoadAssignments of their view, as last
   * sent (undefined: none yet). A wildcard subscriber carries the Services of
   * its view: all of them, unless an egress scope narrows it; every outbound
   * cluster has its assignment there, and the views of one scope share that
   * map (MeshSnapshots), so this is a group per scope and generation.
   */
  private readonly wildcard = new Map<ReadonlyMap<string, unknown> | undefined, ProxyGroup>();
  private readonly byWorkload = new Map<string, ProxyGroup>();

  constructor(proxies: readonly ProxyState[]) {
    const listIds = new Map<readonly string[], number>();
    for (const proxy of proxies) {
      const identity = proxyIdentity(proxy.node);
      const counted = countedProxy(proxy, identity.kind === "proxyless");
      if (!counted) continue;
      if (identity.workload !== undefined) {
        let group = this.byWorkload.get(identity.workload);
        if (!group) this.byWorkload.set(identity.workload, (group = new ProxyGroup()));
        group.add(counted);
      }
      const config = proxy.types.filter((t) => CONFIG_TYPES.has(t.typeUrl));
      if (config.some((t) => t.wildcard)) {
        const endpoints = proxy.types.find((t) => t.typeUrl === ENDPOINT_TYPE)?.lastSentResources;
        let group = this.wildcard.get(endpoints);
        if (!group) this.wildcard.set(endpoints, (group = new ProxyGroup()));
        group.add(counted);
        continue;
      }
      const lists = config.flatMap((t) => (t.names?.length ? [t.names as string[]] : []));
      const key = lists
        .map((list) => {
          let id = listIds.get(list);
          if (id === undefined) listIds.set(list, (id = listIds.size));
          return id;
        })
        .sort((a, b) => a - b)
        .join(",");
      let entry = this.bySubscription.get(key);
      if (!entry) this.bySubscription.set(key, (entry = { lists, group: new ProxyGroup() }));
      entry.group.add(counted);
    }
  }

  /**
   * How the proxies whose configuration includes a Service (they subscribe,
   * by name or wildcard, to one of its listeners, routes or clusters:
   * `names`, from translate's serviceResourceNames; a wildcard subscriber
   * whose view lacks the Service only until it runs `generation`) have taken
   * `generation`.
   */
  ofService(names: ReadonlySet<string>, generation: number): Programming {
    const counts: Counts = { targeted: 0, proxyless: 0, acked: 0, nacked: 0 };
    for (const [endpoints, group] of this.wildcard)
      if (!endpoints || includesAny(endpoints, names)) group.countInto(counts, generation);
      // A view without the Service: those that have not run `generation` may get it with it.
      else group.countBehindInto(counts, generation);
    for (const { lists, group } of this.bySubscription.values())
      if (lists.some((list) => includesAny(asSet(list), names))) group.countInto(counts, generation);
    return programming(counts);
  }

  /** The same counts for the proxies of some workloads (namespace/name), which enforce a security policy. */
  ofWorkloads(workloads: Iterable<string>, generation: number): Programming {
    const counts: Counts = { targeted: 0, proxyless: 0, acked: 0, nacked: 0 };
    for (const workload of new Set(workloads)) this.byWorkload.get(workload)?.countInto(counts, generation);
    return programming(counts);
  }
}

function countedProxy(proxy: ProxyState, proxyless: boolean): CountedProxy | undefined {
  const standingNacks = proxy.types.flatMap((t) =>
    t.lastNack && t.lastNack.generation >= (t.lastAckedGeneration ?? -1) ? [t.lastNack] : [],
  );
  if (proxy.ranGeneration === undefined && standingNacks.length === 0) return undefined;
  return {
    ran: proxy.ranGeneration ?? -1,
    proxyless,
    standingNacks,
  };
}

function includesAny(set: { has(name: string): boolean }, names: ReadonlySet<string>): boolean {
  for (const name of names) if (set.has(name)) return true;
  return false;
}

const programming = ({ lastNack, ...counts }: Counts): Programming => ({
  ...counts,
  lastNackMessage: lastNack?.message ?? "",
});
