import type { SimulateDestination, SimulateDetails, SimulateResult } from "../policy/simulate.js";

/** `skiff simulate -o text`: the route, the mTLS decision and the authorization decision, one line each. */
export function text(result: SimulateResult, details: SimulateDetails): string {
  const dest = (d: SimulateDestination) => `${d.service}${d.subset ? ` subset ${d.subset}` : ""}`;
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
    `route:          ${route.policy === null ? "no TrafficPolicy" : `${route.policy} rule ${route.rule ?? "(default route)"}`} -> ${dest(route.destination)}${split}`,
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
