import type { Mesh } from "../api/v1alpha1/generated/mesh.js";
import { meshIssues } from "../controllers/mesh/issues.js";
import { truncateCodePoints } from "../k8s/truncate.js";
import type { AdmissionDecision, AdmissionRequest } from "./admission.js";

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const issueTexts = (mesh: unknown): string[] =>
  isObject(mesh) ? meshIssues(mesh as unknown as Mesh).map((i) => `${i.field}: ${i.message}`) : [];

/**
 * Refuses a Mesh with what its schema cannot check and the sidecars, their
 * bootstrap or the xDS server cannot take (meshIssues), naming each field.
 *
 * An UPDATE is refused only for issues the stored object did not already
 * have, as the API server ratchets its own rules: a Mesh stored with one
 * (while the webhook was down, or before it checked) must still take the
 * operator's finalizer changes and other edits, and be deletable.
 */
export function validateMesh(request: AdmissionRequest): AdmissionDecision {
  const before = new Set(request.operation === "UPDATE" ? issueTexts(request.oldObject) : []);
  const issues = issueTexts(request.object).filter((issue) => !before.has(issue));
  if (issues.length === 0) return { allowed: true };
  return { allowed: false, code: 422, message: truncateCodePoints(issues.join("; "), 4096) };
}
