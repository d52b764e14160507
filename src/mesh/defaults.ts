/**
 * The Mesh's defaults: the CRD schema writes them into every stored Mesh,
 * and every reader that may meet a Mesh without them (offline input, a test,
 * `skiff dev`'s embedded Mesh) applies the same values from here.
 */
export const MESH_DEFAULTS = {
  trustDomain: "cluster.local",
  rootNamespace: "skiff-system",
  mtlsMode: "PERMISSIVE",
  rootValidity: "87600h",
  workloadValidity: "24h",
  controlPlaneReplicas: 2,
} as const;

/** The parts of a Mesh the identity settings come from (structural, so this module imports no API types). */
interface MeshIdentitySource {
  readonly spec?: {
    readonly trustDomain?: string;
    readonly rootNamespace?: string;
    readonly defaults?: { readonly mtlsMode?: "DISABLE" | "PERMISSIVE" | "STRICT" };
  };
}

/** A Mesh's trust domain, root namespace and default mTLS mode, defaults applied (an empty string is unset). */
export function meshIdentity(mesh: MeshIdentitySource | undefined): {
  readonly trustDomain: string;
  readonly rootNamespace: string;
  readonly defaultMtlsMode: "DISABLE" | "PERMISSIVE" | "STRICT";
} {
  return {
    trustDomain: mesh?.spec?.trustDomain || MESH_DEFAULTS.trustDomain,
    rootNamespace: mesh?.spec?.rootNamespace || MESH_DEFAULTS.rootNamespace,
    defaultMtlsMode: mesh?.spec?.defaults?.mtlsMode ?? MESH_DEFAULTS.mtlsMode,
  };
}
