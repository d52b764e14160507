import type { Analyzer } from "../analyzer.js";
import { compileFindings } from "./compile-findings.js";

/** Istio's IST0113 MTLSPolicyConflict is an error too: one of the policies is ignored. */
export const peerConflict: Analyzer = {
  code: "SKF0202",
  severity: "error",
  name: "ConflictingPeerAuthentication",
  fix: "Keep one PeerAuthentication per level (mesh, namespace, workload selector): merge them and delete the others.",
  analyze: (view) => compileFindings(view, "PeerAuthentication", "Conflicted", () => "spec"),
};
