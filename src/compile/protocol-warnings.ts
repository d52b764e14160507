import type { ServiceModel } from "../ir/model.js";
import type { AuthorizationPolicyModel } from "../ir/security.js";
import { usesHttpOnly } from "../policy/authorization.js";
import type { SecurityWarning } from "./security-warnings.js";

/** A workload port that carries opaque TCP: a Service port of protocol TCP that targets it. */
export interface TcpPort {
  /** namespace/name. */
  readonly workload: string;
  /** The workload's (container) port. */
  readonly port: number;
}

/** The workload ports that Services declare as TCP, sorted. */
export function tcpPorts(services: readonly ServiceModel[]): TcpPort[] {
  const found = new Map<string, TcpPort>();
  for (const service of services)
    for (const servicePort of service.ports.filter((p) => p.protocol === "TCP"))
      for (const endpoint of service.endpoints) {
        const port = endpoint.ports[servicePort.name];
        if (endpoint.workload === undefined || port === undefined) continue;
        found.set(`${endpoint.workload}:${port}`, { workload: endpoint.workload, port });
      }
  return [...found.values()].sort((a, b) => a.workload.localeCompare(b.workload) || a.port - b.port);
}

/**
 * Warnings for rules with HTTP-only fields that apply to TCP ports of the
 * workloads the policy governs. Translate (and the evaluator) do what Istio
 * does there: an ALLOW rule never matches, so the port's connections are
 * denied unless another rule allows them; a DENY or AUDIT rule applies
 * without those fields, so it matches more. Neither is an error, but the
 * author should know, rather than find the rule silently left out.
 */
export function tcpWarnings(
  policy: AuthorizationPolicyModel,
  workloads: readonly string[],
  ports: readonly TcpPort[],
): SecurityWarning[] {
  if (policy.rules.kind !== "Rules") return [];
  const governed = new Set(workloads);
  const onTcp = ports.filter((p) => governed.has(p.workload)).map((p) => `${p.workload}:${p.port}`);
  if (onTcp.length === 0) return [];
  const where =
    onTcp.length <= 3 ? onTcp.join(", ") : `${onTcp.slice(0, 3).join(", ")} and ${onTcp.length - 3} more`;
  return policy.rules.rules.filter(usesHttpOnly).map((rule) => ({
    reason: "HttpOnlyFieldsOnTcp",
    rule: rule.index,
    message:
      policy.action === "ALLOW"
        ? `uses HTTP-only fields (hosts, methods, paths or request headers), so on TCP ports (${where}) it never matches, as in Istio`
        : `uses HTTP-only fields (hosts, methods, paths or request headers), which TCP ports (${where}) do not have, so there it applies without them, as in Istio`,
  }));
}
