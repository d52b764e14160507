import { CLUSTER_DOMAIN } from "../compile/state.js";

/** The Pod's node id, from the downward-API environment, as the sidecar's Envoy has it; undefined without it. */
export function podNodeId(env: Record<string, string | undefined>): string | undefined {
  const { POD_IP: ip, POD_NAME: pod, POD_NAMESPACE: namespace } = env;
  if (!ip || !pod || !namespace) return undefined;
  return `sidecar~${ip}~${pod}.${namespace}~${namespace}.svc.${CLUSTER_DOMAIN}`;
}

/**
 * The agent's own node id: the application's with another type, so the xDS
 * server never counts the agent as the workload's data plane (it enforces
 * nothing) when it reports a policy as programmed.
 */
export function agentNodeId(applicationNodeId: string): string {
  const [, ...rest] = applicationNodeId.split("~");
  return ["skiff-agent", ...rest].join("~");
}
