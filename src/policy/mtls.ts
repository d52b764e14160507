import type { DataPlane } from "../ir/model.js";
import type { EffectiveMtlsMode, Labels, PeerAuthenticationModel } from "../ir/security.js";
import { labelsInclude } from "./match.js";

/** A workload, as policies see it: where it runs and its labels. */
export interface WorkloadRef {
  readonly namespace: string;
  readonly labels: Labels;
}

/** The effective mode and what decided it. */
export interface MtlsDecision {
  readonly mode: EffectiveMtlsMode;
  /** `namespace/name` of the PeerAuthentication that decided; null for the Mesh default. */
  readonly policy: string | null;
  /** The level that decided. */
  readonly level: "Port" | "Workload" | "Namespace" | "Mesh" | "Default";
}

/**
 * The mTLS mode that a workload's port accepts, with Istio's precedence
 * (ComposePeerAuthentication in istio/istio, pilot/pkg/security/authn):
 *
 * - Levels: the mesh (no selector, in the root namespace), then the
 *   workload's namespace (no selector), then the workload (a selector in the
 *   workload's namespace that its labels satisfy). A narrower level overrides
 *   a wider one; UNSET at a level inherits the level above.
 * - A selector policy in the root namespace is ignored, as Istio ignores it.
 * - At one level the oldest policy (creationTimestamp, then name) decides;
 *   the others are Conflicted in their status.
 * - portLevel only counts on the workload-level policy; UNSET there inherits
 *   the workload's mode.
 * - When no policy decides, the Mesh's defaults.mtlsMode applies (Istio's
 *   built-in default is PERMISSIVE, which is also the Mesh's default).
 */
export function mtlsDecision(
  peerAuthentications: readonly PeerAuthenticationModel[],
  rootNamespace: string,
  workload: WorkloadRef,
  port: number | undefined,
  meshDefault: EffectiveMtlsMode,
): MtlsDecision {
  const oldest = oldestPolicy;
  const selectorless = peerAuthentications.filter((p) => p.scope.kind !== "Workload");
  const mesh = oldest(selectorless.filter((p) => p.source.namespace === rootNamespace));
  const namespace =
    workload.namespace === rootNamespace
      ? undefined
      : oldest(selectorless.filter((p) => p.source.namespace === workload.namespace));
  const selected = workloadPolicy(peerAuthentications, rootNamespace, workload);

  let decision: MtlsDecision = { mode: meshDefault, policy: null, level: "Default" };
  const levels: [PeerAuthenticationModel | undefined, MtlsDecision["level"]][] = [
    [mesh, "Mesh"],
    [namespace, "Namespace"],
    [selected, "Workload"],
  ];
  for (const [policy, level] of levels) {
    if (policy && policy.mode !== "UNSET")
      decision = { mode: policy.mode, policy: `${policy.source.namespace}/${policy.source.name}`, level };
  }
  const portMode = selected && port !== undefined ? selected.portLevel[String(port)] : undefined;
  if (selected && portMode !== undefined && portMode !== "UNSET")
    decision = {
      mode: portMode,
      policy: `${selected.source.namespace}/${selected.source.name}`,
      level: "Port",
    };
  return decision;
}

/**
 * The workload-level PeerAuthentication that decides a workload's mode: the
 * oldest selector policy of its own namespace that its labels satisfy (none
 * in the root namespace).
 */
function workloadPolicy(
  peerAuthentications: readonly PeerAuthenticationModel[],
  rootNamespace: string,
  workload: WorkloadRef,
): PeerAuthenticationModel | undefined {
  if (workload.namespace === rootNamespace) return undefined;
  return oldestPolicy(
    peerAuthentications.filter(
      (p) =>
        p.scope.kind === "Workload" &&
        p.source.namespace === workload.namespace &&
        labelsInclude(workload.labels, p.scope.matchLabels),
    ),
  );
}

function oldestPolicy(candidates: PeerAuthenticationModel[]): PeerAuthenticationModel | undefined {
  return candidates.sort(
    (a, b) => a.created.localeCompare(b.created) || a.source.name.localeCompare(b.source.name),
  )[0];
}

/**
 * The ports that the workload's deciding workload-level PeerAuthentication
 * sets in `portLevelMtls` (UNSET ones left out: they inherit), sorted. They
 * apply whether or not a Service targets the port: Istio gives each such
 * port that no Service names its own passthrough filter chains (the authn
 * builder's `ForPassthrough` in pilot), so a STRICT port refuses plaintext
 * there too.
 */
export function portLevelMtlsPorts(
  peerAuthentications: readonly PeerAuthenticationModel[],
  rootNamespace: string,
  workload: WorkloadRef,
): number[] {
  const selected = workloadPolicy(peerAuthentications, rootNamespace, workload);
  if (!selected) return [];
  return Object.entries(selected.portLevel)
    .filter(([, mode]) => mode !== "UNSET")
    .map(([port]) => Number(port))
    .filter((port) => Number.isInteger(port) && port > 0)
    .sort((a, b) => a - b);
}

/**
 * Whether a PeerAuthentication's scope takes in a workload, whether or not
 * it decides the workload's mode: a mesh-wide policy every workload, a
 * namespace's policy that namespace's, and a selector policy the workloads of
 * its own namespace whose labels include its selector.
 */
export function peerAuthenticationApplies(policy: PeerAuthenticationModel, workload: WorkloadRef): boolean {
  if (policy.scope.kind === "Mesh") return true;
  if (policy.source.namespace !== workload.namespace) return false;
  return policy.scope.kind === "Namespace" || labelsInclude(workload.labels, policy.scope.matchLabels);
}

/** The mode alone; see {@link mtlsDecision}. */
export function effectiveMtls(
  peerAuthentications: readonly PeerAuthenticationModel[],
  rootNamespace: string,
  workload: WorkloadRef,
  port: number | undefined,
  meshDefault: EffectiveMtlsMode,
): EffectiveMtlsMode {
  return mtlsDecision(peerAuthentications, rootNamespace, workload, port, meshDefault).mode;
}

/**
 * What a port actually accepts under a mode, given what serves it. An Envoy
 * sidecar serves every mode. A proxyless gRPC server cannot serve PERMISSIVE:
 * gRPC picks a filter chain before the handshake and cannot tell TLS from
 * plaintext (gRPC A36: `transport_protocol` matches only `raw_buffer`). It
 * serves plaintext then, which keeps PERMISSIVE's promise that no client
 * breaks; mesh clients see that the port does not take mTLS and connect in
 * plaintext too. (Istio serves STRICT there instead, which breaks plaintext
 * clients.)
 */
export function servedMtlsMode(mode: EffectiveMtlsMode, dataPlane: DataPlane): EffectiveMtlsMode {
  return dataPlane === "proxyless" && mode === "PERMISSIVE" ? "DISABLE" : mode;
}
