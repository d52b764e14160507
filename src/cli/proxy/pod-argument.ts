import { SERVER_METADATA } from "../../xds/status/client-config.js";
import type { ClientConfig } from "./client-config-json.js";
import type { NodeIdMatcher } from "./csds-client.js";

export interface PodRef {
  readonly name: string;
  readonly namespace: string;
  /** As given, which may also be a node id. */
  readonly argument: string;
}

/** A Pod from `<pod>` with -n, or `<pod>.<namespace>` (as istioctl takes it); namespace default "default". */
export function resolvePod(argument: string, namespace: string | undefined): PodRef {
  if (namespace !== undefined) return { name: argument, namespace, argument };
  const dot = argument.indexOf(".");
  return dot > 0
    ? { name: argument.slice(0, dot), namespace: argument.slice(dot + 1), argument }
    : { name: argument, namespace: "default", argument };
}

/** Whether the proxy is the Pod's (its node id names it, SKIFF_POD), or its node id is the argument itself. */
export function isProxyOf(config: ClientConfig, pod: PodRef): boolean {
  const named = config.node?.metadata?.[SERVER_METADATA.pod];
  return named === `${pod.namespace}/${pod.name}` || config.node?.id === pod.argument;
}

/**
 * What to ask the xDS servers for, so that they send only the Pod's proxies
 * and not the whole mesh's configuration: node ids name the Pod as their
 * third field, `<ip>~<pod>.<namespace>~` (src/xds/node.ts), and neither
 * name can hold a "~". isProxyOf still decides.
 */
export function podNodeMatchers(pod: PodRef): NodeIdMatcher[] {
  return [{ contains: `~${pod.name}.${pod.namespace}~` }, { exact: pod.argument }];
}
