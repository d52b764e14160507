import type { Analyzer } from "../analyzer.js";
import { compileFindings, invalidField } from "./compile-findings.js";

export const authzInvalid: Analyzer = {
  code: "SKF0306",
  severity: "error",
  name: "InvalidAuthorizationPolicy",
  fix: "Correct the field the message names; until then the policy is ignored.",
  analyze: (view) => compileFindings(view, "AuthorizationPolicy", "Invalid", invalidField),
};
