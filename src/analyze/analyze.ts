import type { Analyzer } from "./analyzer.js";
import { authzAllowNothing } from "./analyzers/authz-allow-nothing.js";
import {
  authzHttpOnlyOnTcp,
  authzNotPrincipalsWithoutMtls,
  authzPrincipalsWithoutMtls,
} from "./analyzers/authz-compile-warnings.js";
import { authzInvalid } from "./analyzers/authz-invalid.js";
import { authzSelectsNothing } from "./analyzers/authz-selects-nothing.js";
import { meshNotReady } from "./analyzers/mesh-not-ready.js";
import { peerConflict } from "./analyzers/peer-conflict.js";
import { peerInvalid } from "./analyzers/peer-invalid.js";
import { peerRootSelector } from "./analyzers/peer-root-selector.js";
import { peerSelectsNothing } from "./analyzers/peer-selects-nothing.js";
import { peerStrictPlaintextClients } from "./analyzers/peer-strict-plaintext-clients.js";
import { podMissingSidecar } from "./analyzers/pod-missing-sidecar.js";
import { proxyOutdated } from "./analyzers/proxy-outdated.js";
import { servicePortProtocol } from "./analyzers/service-port-protocol.js";
import { trafficConflict } from "./analyzers/traffic-conflict.js";
import { trafficInvalid } from "./analyzers/traffic-invalid.js";
import { trafficShadowedRule } from "./analyzers/traffic-shadowed-rule.js";
import { trafficSubsetNoEndpoints } from "./analyzers/traffic-subset-no-endpoints.js";
import { trafficTargetNotFound } from "./analyzers/traffic-target-not-found.js";
import type { Finding } from "./finding.js";
import type { Snapshot } from "./snapshot.js";
import { analysisView } from "./view.js";

/** Every analyzer, in code order; docs/analyze.md has a section for each. */
export const ANALYZERS: readonly Analyzer[] = [
  trafficTargetNotFound,
  trafficSubsetNoEndpoints,
  trafficConflict,
  trafficShadowedRule,
  trafficInvalid,
  peerSelectsNothing,
  peerConflict,
  peerRootSelector,
  peerStrictPlaintextClients,
  peerInvalid,
  authzSelectsNothing,
  authzAllowNothing,
  authzPrincipalsWithoutMtls,
  authzNotPrincipalsWithoutMtls,
  authzHttpOnlyOnTcp,
  authzInvalid,
  meshNotReady,
  podMissingSidecar,
  proxyOutdated,
  servicePortProtocol,
];

/**
 * `skiff analyze` without the command line: every analyzer over one
 * snapshot. Pure. Findings are sorted by object (kind, namespace, name),
 * then code and field, so the output is stable.
 */
export function analyze(snapshot: Snapshot): Finding[] {
  const view = analysisView(snapshot);
  const findings = ANALYZERS.flatMap((analyzer) =>
    analyzer.analyze(view).map((detection): Finding => ({
      code: analyzer.code,
      severity: analyzer.severity,
      ...detection,
      fix: analyzer.fix,
      docs: `docs/analyze.md#${analyzer.code.toLowerCase()}`,
    })),
  );
  const key = (f: Finding) => [f.object.kind, f.object.namespace ?? "", f.object.name, f.code, f.field];
  return findings.sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    for (let i = 0; i < ka.length; i++) {
      const order = ka[i]!.localeCompare(kb[i]!);
      if (order !== 0) return order;
    }
    return 0;
  });
}
