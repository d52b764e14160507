import type { WorkloadIdentity } from "./cache/snapshot.js";
import { nodePod } from "./node.js";

/**
 * Why a proxy that proved `identity` with its token may not present itself
 * as `nodeId`, or undefined when it may. A node id that names a Pod is a
 * claim to speak for that Pod: its ACKs and NACKs become the Pod's policy
 * status, and its configuration is the Pod's. Only a token bound to that
 * very Pod (a kubelet's projected token) backs the claim; what the node
 * says is never trusted on its own. A node id that names no Pod (a
 * proxyless client that only calls others) claims nothing, so any valid
 * token will do.
 */
export function nodeClaimRefusal(nodeId: string, identity: WorkloadIdentity): string | undefined {
  const pod = nodePod(nodeId);
  if (!pod) return undefined;
  const claimed = `${pod.namespace}/${pod.name}`;
  if (identity.pod === undefined)
    return `the node id names the Pod ${claimed}, but the token is bound to no Pod`;
  const bound = `${identity.namespace}/${identity.pod}`;
  if (bound !== claimed)
    return `the node id names the Pod ${claimed}, but the token is bound to the Pod ${bound}`;
  return undefined;
}
