/** The Mesh reconciler's own names (what other processes rely on is in src/mesh/names.ts). */
export const MESH_FINALIZER = "skiff.dev/mesh-cleanup";
export const FIELD_MANAGER = "skiff/mesh";
