/**
 * What compile may carry from one run to the next, so that a change costs
 * work in proportion to what it touches downstream. The xDS pipeline owns
 * one; every other caller compiles from scratch.
 *
 * - Results of pure functions of one cluster object are kept per object.
 *   The informers replace an object on every change and never mutate one, so
 *   an object seen again is unchanged.
 * - A part of the result built from the same input objects as in the
 *   previous run (a Service's endpoints from its slices and their Pods, its
 *   model from those endpoints, the Service and its policy; a workload's
 *   model from its Pod, the Mesh and the security policies) is the previous
 *   run's object, not built again.
 *
 * Equal models give equal output either way; keeping the identity lets
 * translate (TranslateMemo), the encoder and the snapshots skip what did
 * not change.
 */
export class CompileCache {
  private readonly perObject = new Map<string, WeakMap<object, unknown>>();
  private previousBuilt = new Map<string, Map<string, Built>>();
  private currentBuilt = new Map<string, Map<string, Built>>();

  /** `compute(object)`, computed once per object for a given `kind` of result. */
  of<K extends object, V>(kind: string, object: K, compute: (object: K) => V): V {
    let results = this.perObject.get(kind);
    if (!results) this.perObject.set(kind, (results = new WeakMap()));
    if (results.has(object)) return results.get(object) as V;
    const value = compute(object);
    results.set(object, value);
    return value;
  }

  /**
   * `build()`, or what it returned for this `kind` and `key` in the previous
   * run if `inputs` are the same objects (or equal primitives) then. (Kind
   * and key apart: a key kept per object, such as a Service's
   * namespace/name, is then looked up as it is, not concatenated and hashed
   * again on every run.)
   */
  built<T>(kind: string, key: string, inputs: readonly unknown[], build: () => T): T {
    const before = this.previousBuilt.get(kind)?.get(key);
    const value = before && sameObjects(before.inputs, inputs) ? (before.value as T) : build();
    let current = this.currentBuilt.get(kind);
    if (!current) this.currentBuilt.set(kind, (current = new Map()));
    current.set(key, { inputs, value });
    return value;
  }

  /** Starts a run; one that threw before its end leaves nothing behind. */
  beginRun(): void {
    this.currentBuilt = new Map();
  }

  /** Ends a run: what it returned is what the next one compares with. */
  endRun(): void {
    this.previousBuilt = this.currentBuilt;
    this.currentBuilt = new Map();
  }
}

interface Built {
  readonly inputs: readonly unknown[];
  readonly value: unknown;
}

function sameObjects(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
