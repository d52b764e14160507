import type { Analyzer } from "../analyzer.js";
import { compileFindings } from "./compile-findings.js";

export const peerRootSelector: Analyzer = {
  code: "SKF0203",
  severity: "error",
  name: "SelectorInRootNamespace",
  fix: "Drop the selector for a mesh-wide policy, or move the policy to the workloads' namespace.",
  analyze: (view) =>
    compileFindings(view, "PeerAuthentication", "SelectorInRootNamespace", () => "spec.selector"),
};
