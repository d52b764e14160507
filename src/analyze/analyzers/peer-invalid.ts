import type { Analyzer } from "../analyzer.js";
import { compileFindings, invalidField } from "./compile-findings.js";

export const peerInvalid: Analyzer = {
  code: "SKF0205",
  severity: "error",
  name: "InvalidPeerAuthentication",
  fix: "Correct the field the message names; until then the policy is ignored.",
  analyze: (view) => compileFindings(view, "PeerAuthentication", "Invalid", invalidField),
};
