import { proxyIdentity } from "../node.js";
import type { ProxyState } from "../server/proxy-state.js";
import { CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE } from "../translate/resource.js";

/** How the proxies that send traffic to one Service have taken one configuration generation. */
export interface Programming {
  readonly targeted: number;
  /** Of the targeted, the proxyless gRPC clients: they carry out less than Envoy does (see UnsupportedSetting). */
  readonly proxyless: number;
  readonly acked: number;
  readonly nacked: number;
  readonly lastNackMessage: string;
  /**
   * With several xDS replicas (replica-merge.ts): those whose proxies the
   * counts leave out, because they did not answer (`unheard`, with why) or
   * have not yet compiled this generation of the policy (`behind`).
   */
  readonly unheard?: readonly { readonly replica: string; readonly reason: string }[];
  readonly behind?: readonly string[];
}

/**
 * Counts, among connected proxies, those whose configuration includes a
 * Service (they subscribe, by name or wildcard, to one of its listeners,
 * routes or clusters: `names`, from translate's serviceResourceNames), those
 * that run `generation` or newer in full, and those whose latest answer since
 * `generation` was a NACK. Pure.
 */
export function programmingOf(
  names: ReadonlySet<string>,
  generation: number,
  proxies: readonly ProxyState[],
): Programming {
  const targeted = proxies.filter((proxy) =>
    proxy.types
      .filter((t) => [LISTENER_TYPE, ROUTE_TYPE, CLUSTER_TYPE].includes(t.typeUrl))
      .some((t) => t.wildcard || t.names?.some((n) => names.has(n))),
  );
  return count(targeted, generation);
}

/**
 * The same counts for the proxies of some workloads (namespace/name), which
 * enforce a security policy: their sidecars, or their proxyless gRPC servers.
 */
export function programmingOfWorkloads(
  workloads: ReadonlySet<string>,
  generation: number,
  proxies: readonly ProxyState[],
): Programming {
  return count(
    proxies.filter((proxy) => {
      const identity = proxyIdentity(proxy.node);
      return identity.workload !== undefined && workloads.has(identity.workload);
    }),
    generation,
  );
}

function count(targeted: readonly ProxyState[], generation: number): Programming {
  let acked = 0;
  let nacked = 0;
  let lastNack: { at: Date; message: string } | undefined;
  for (const proxy of targeted) {
    if ((proxy.syncedGeneration ?? -1) >= generation) acked += 1;
    const nack = proxy.types
      .map((t) =>
        t.lastNack &&
        t.lastNack.generation >= generation &&
        t.lastNack.generation >= (t.lastAckedGeneration ?? -1)
          ? t.lastNack
          : undefined,
      )
      .find((n) => n !== undefined);
    if (nack) {
      nacked += 1;
      if (!lastNack || nack.at > lastNack.at) lastNack = nack;
    }
  }
  return {
    targeted: targeted.length,
    proxyless: targeted.filter((proxy) => proxyIdentity(proxy.node).kind === "proxyless").length,
    acked,
    nacked,
    lastNackMessage: lastNack?.message ?? "",
  };
}
