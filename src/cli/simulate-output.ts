import type { SimulateDestination, SimulateOutcome } from "../simulate/simulate.js";

/**
 * `skiff simulate -o text`: the route, the mTLS decision and the
 * authorization decision, one line each; or the redirect that answers the
 * request, and why nothing else applies.
 */
export function text(outcome: SimulateOutcome): string {
  const dest = (d: SimulateDestination) => `${d.service}${d.subset ? ` subset ${d.subset}` : ""}`;
  const rule = (route: { policy: string | null; rule: string | null }) =>
    route.policy === null ? "no TrafficPolicy" : `${route.policy} rule ${route.rule ?? "(default route)"}`;
  if (outcome.details === null) {
    const { redirect } = outcome.result.route;
    return [
      `route:          ${rule(outcome.result.route)} -> redirect ${redirect.code} to ${redirect.location}`,
      "answered by:    the client's sidecar: the request does not reach the Service, so mTLS and authorization do not apply",
    ].join("\n");
  }
  const { result, details } = outcome;
  const { route, mtls, authorization } = result;
  const split =
    route.destinations.length > 1
      ? ` (${route.destinations.map((d) => `${d.subset ?? "all"} ${d.weight}%`).join(", ")})`
      : "";
  const decidedBy =
    details.mtls.policy === null
      ? "the Mesh default"
      : `${details.mtls.policy}, ${details.mtls.level.toLowerCase()} level`;
  const lines = [
    `route:          ${rule(route)} -> ${dest(route.destination)}${split}`,
    `workload:       ${details.workload} port ${details.port} {${Object.entries(details.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(", ")}}`,
    `mtls:           server ${mtls.serverMode} (${decidedBy}); client ${
      mtls.clientUsesMtls ? `uses mTLS as ${details.principal}` : "sends plaintext"
    }`,
    `authorization:  ${authorization.decision}: ${authorization.reason}`,
  ];
  if (details.audited.length > 0) lines.push(`audited:        ${details.audited.join(", ")}`);
  return lines.join("\n");
}
