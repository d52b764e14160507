/** The object a finding is about, as kubectl names it. */
export interface ObjectRef {
  readonly kind: string;
  /** Absent for cluster-scoped objects (the Mesh, Namespaces). */
  readonly namespace?: string;
  readonly name: string;
}

/**
 * - `error`: the mesh does not do what the object says (a policy is ignored,
 *   a reference resolves to nothing, the control plane is not ready).
 * - `warning`: it does, but probably not what its author meant.
 */
export type Severity = "error" | "warning";

/** What an analyzer found: the engine adds the analyzer's code, severity and fix. */
export interface Detection {
  readonly object: ObjectRef;
  /** The field at fault, as a path from the object's root (`spec.http[2]`). */
  readonly field: string;
  /** One line. */
  readonly message: string;
}

/** One finding of `skiff analyze`, as printed and as `-o json` gives it. */
export interface Finding extends Detection {
  /** Stable: SKF01xx TrafficPolicy, SKF02xx PeerAuthentication, SKF03xx AuthorizationPolicy, SKF04xx Mesh and workloads, SKF05xx Services. */
  readonly code: string;
  readonly severity: Severity;
  /** How to fix it, in one line. */
  readonly fix: string;
  /** Where docs/analyze.md explains the code. */
  readonly docs: string;
}
