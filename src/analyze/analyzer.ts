import type { Detection, ObjectRef, Severity } from "./finding.js";
import type { AnalysisView } from "./view.js";

/** One check: its stable code, severity and fix, and the pure function that finds its cases. */
export interface Analyzer {
  readonly code: string;
  readonly severity: Severity;
  /** A short name, as in docs/analyze.md's headings (`TargetServiceNotFound`). */
  readonly name: string;
  readonly fix: string;
  analyze(view: AnalysisView): Detection[];
}

/** The reference to a namespaced object from its metadata. */
export function refOf(kind: string, metadata: { namespace?: string; name?: string } | undefined): ObjectRef {
  return { kind, namespace: metadata?.namespace ?? "", name: metadata?.name ?? "" };
}
