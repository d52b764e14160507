import type { CompileResult, GoverningPolicyFindings } from "../compile/compile.js";
import type { PolicyFinding, PolicyFindings, PolicyKind } from "../compile/findings.js";
import type { SecurityPolicyFindings } from "../compile/security.js";
import { byNamespacedName } from "../compile/services.js";
import type { ClusterState } from "../compile/state.js";
import type { PolicySource } from "../ir/source.js";

/** A policy that a run left out because the mesh could not be built with it. */
export interface RejectedPolicy {
  readonly kind: PolicyKind;
  readonly source: PolicySource;
  /** What went wrong, as the build threw it. */
  readonly message: string;
}

export interface Isolated<T> {
  readonly built: T;
  /** Sorted by kind, namespace and name. */
  readonly rejected: readonly RejectedPolicy[];
}

interface Candidate {
  readonly kind: PolicyKind;
  readonly source: PolicySource;
  readonly object: object;
}

/** Identifies one generation of one policy: a verdict about it holds until it changes. */
export function rejectionKey(kind: PolicyKind, source: PolicySource): string {
  return `${kind}/${source.namespace}/${source.name}/${source.generation}`;
}

/**
 * Builds the mesh from `state`, leaving out the policies without which it
 * cannot be built, so that one object the API server should have refused (or
 * that meets a bug in compile, translate or encoding) costs only itself and
 * not every proxy's updates.
 *
 * - The whole state first: a healthy mesh costs one build.
 * - If that throws, the policies rejected by the previous run (`suspects`,
 *   keys from rejectionKey: the same generation of the same policy) are left
 *   out on trial, then each is tried again on its own: while one bad policy
 *   stays, a run costs 2 + (number of suspects) builds.
 * - Otherwise the state without any policy is built; if even that throws, the
 *   fault is not a policy's and the error is thrown (the caller keeps the
 *   previous generation). Then the policies are added back in halves, in a
 *   fixed order, and a half that breaks the build is split until single
 *   policies are rejected: O(k log n) builds for k bad policies among n.
 * - A policy that breaks the build only together with another one is
 *   rejected if it comes later in the order (kind, namespace, name).
 *
 * `build` must be pure in its input (the pipeline's compile, translate and
 * encode are), so a policy's verdict does not depend on when it was tried.
 */
export function buildIsolating<T>(
  state: ClusterState,
  build: (state: ClusterState) => T,
  suspects: ReadonlySet<string> = new Set(),
): Isolated<T> {
  let failure: unknown;
  try {
    return { built: build(state), rejected: [] };
  } catch (error) {
    failure = error;
  }
  const candidates = policiesOf(state);
  const accepted = new Set<object>();
  const rejected: RejectedPolicy[] = [];
  const attempt = (extra: readonly Candidate[]) =>
    build(restrict(state, new Set([...accepted, ...extra.map((c) => c.object)])));
  let built: T | undefined;

  /**
   * Adds `group` to the accepted policies, or the parts of it that build.
   * `failed`: what building with the whole group threw, when that is known.
   */
  const add = (group: readonly Candidate[], failed?: { error: unknown }): void => {
    if (group.length === 0) return;
    let error = failed?.error;
    if (!failed) {
      try {
        built = attempt(group);
        group.forEach((c) => accepted.add(c.object));
        return;
      } catch (thrown) {
        error = thrown;
      }
    }
    if (group.length === 1) {
      rejected.push({ kind: group[0]!.kind, source: group[0]!.source, message: messageOf(error) });
      return;
    }
    const middle = Math.ceil(group.length / 2);
    add(group.slice(0, middle));
    add(group.slice(middle));
  };

  const suspected = candidates.filter((c) => suspects.has(rejectionKey(c.kind, c.source)));
  const others = candidates.filter((c) => !suspects.has(rejectionKey(c.kind, c.source)));
  let othersBuild = false;
  if (suspected.length > 0) {
    try {
      built = attempt(others);
      others.forEach((c) => accepted.add(c.object));
      othersBuild = true;
    } catch (error) {
      // Some other policy breaks the build too: isolate among all of them.
      failure = error;
    }
  }
  if (!othersBuild) {
    // Throws when the fault is not a policy's.
    built = attempt([]);
    add(others, { error: failure });
  }
  for (const suspect of suspected) add([suspect]);
  return {
    built: built as T,
    rejected: [...rejected].sort(
      (a, b) => a.kind.localeCompare(b.kind) || byNamespacedName(a.source, b.source),
    ),
  };
}

/**
 * The compile result with each rejected policy reported Accepted=False/Invalid,
 * as compile reports the policies it refuses itself.
 */
export function withRejected(result: CompileResult, rejected: readonly RejectedPolicy[]): CompileResult {
  if (rejected.length === 0) return result;
  const finding = (r: RejectedPolicy): PolicyFinding => ({
    type: "Accepted",
    status: "False",
    reason: "Invalid",
    message: `The policy cannot be turned into proxy configuration, so it is not applied: ${r.message}`.slice(
      0,
      4096,
    ),
  });
  const traffic = rejected
    .filter((r) => r.kind === "TrafficPolicy")
    .map((r): PolicyFindings => ({
      kind: "TrafficPolicy",
      source: r.source,
      findings: [finding(r)],
      unsupported: [],
    }));
  const security = rejected
    .filter((r): r is RejectedPolicy & { kind: SecurityPolicyFindings["kind"] } => r.kind !== "TrafficPolicy")
    .map((r): GoverningPolicyFindings => ({
      kind: r.kind,
      source: r.source,
      findings: [finding(r)],
      warnings: [],
      workloads: [],
    }));
  return {
    ...result,
    findings: [...result.findings, ...traffic].sort((a, b) => byNamespacedName(a.source, b.source)),
    securityFindings: [...result.securityFindings, ...security],
  };
}

function policiesOf(state: ClusterState): Candidate[] {
  const candidate =
    (kind: PolicyKind) =>
    (object: { metadata?: { namespace?: string; name?: string; generation?: number } }): Candidate => ({
      kind,
      object,
      source: {
        namespace: object.metadata?.namespace ?? "",
        name: object.metadata?.name ?? "",
        generation: object.metadata?.generation ?? 0,
      },
    });
  return [
    ...state.authorizationPolicies.map(candidate("AuthorizationPolicy")),
    ...state.peerAuthentications.map(candidate("PeerAuthentication")),
    ...state.trafficPolicies.map(candidate("TrafficPolicy")),
  ].sort((a, b) => a.kind.localeCompare(b.kind) || byNamespacedName(a.source, b.source));
}

/** The state with only the `kept` policies; every other object stays. */
function restrict(state: ClusterState, kept: ReadonlySet<object>): ClusterState {
  return {
    ...state,
    trafficPolicies: state.trafficPolicies.filter((p) => kept.has(p)),
    peerAuthentications: state.peerAuthentications.filter((p) => kept.has(p)),
    authorizationPolicies: state.authorizationPolicies.filter((p) => kept.has(p)),
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
