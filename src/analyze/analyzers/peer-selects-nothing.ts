import type { Analyzer } from "../analyzer.js";
import { selectingNothing } from "./selects-nothing.js";

export const peerSelectsNothing: Analyzer = {
  code: "SKF0201",
  severity: "warning",
  name: "PeerAuthenticationSelectsNothing",
  fix: "Correct spec.selector to the labels of the workloads' Pods, or delete the policy.",
  analyze: (view) => selectingNothing(view, "PeerAuthentication", view.snapshot.peerAuthentications),
};
