/** The parts of admission.k8s.io/v1 AdmissionReview that Skiff's webhooks use. */
export interface AdmissionRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  namespace?: string;
  operation: "CREATE" | "UPDATE" | "DELETE" | "CONNECT";
  object?: unknown;
  /** The object before an UPDATE. */
  oldObject?: unknown;
  dryRun?: boolean;
}

export interface AdmissionReview {
  apiVersion: "admission.k8s.io/v1";
  kind: "AdmissionReview";
  request?: AdmissionRequest;
  response?: AdmissionResponse;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; message: string };
  patchType?: "JSONPatch";
  /** base64 of the JSON patch. */
  patch?: string;
  warnings?: string[];
}

/** What a webhook decides about one request; the server wraps it in an AdmissionReview. */
export type AdmissionDecision =
  | { allowed: true; patch?: unknown[]; warnings?: string[] }
  | { allowed: false; code: number; message: string };

export function admissionResponse(uid: string, decision: AdmissionDecision): AdmissionReview {
  const response: AdmissionResponse = decision.allowed
    ? {
        uid,
        allowed: true,
        ...(decision.patch && decision.patch.length > 0
          ? { patchType: "JSONPatch", patch: Buffer.from(JSON.stringify(decision.patch)).toString("base64") }
          : {}),
        ...(decision.warnings && decision.warnings.length > 0 ? { warnings: decision.warnings } : {}),
      }
    : { uid, allowed: false, status: { code: decision.code, message: decision.message } };
  return { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response };
}
