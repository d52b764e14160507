import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import { crdSchema, type CrdDefinition } from "../crd.js";
import type { Schema } from "../schema.js";
import { API_VERSION, CRDS } from "./index.js";

/** One problem with an object, located the way the API server names fields (spec.http[0].route). */
export interface ValidationIssue {
  field: string;
  message: string;
}

/**
 * kubectl and the API server reject unknown fields (fieldValidation=Strict);
 * JSON Schema allows them unless told otherwise, so close every object that
 * does not say what its extra keys may be.
 */
function closeObjects(schema: Schema): Schema {
  const out: Schema = { ...schema };
  if (schema.properties) {
    out.properties = Object.fromEntries(
      Object.entries(schema.properties).map(([k, v]) => [k, closeObjects(v)]),
    );
    if (schema.additionalProperties === undefined && !schema["x-kubernetes-preserve-unknown-fields"]) {
      out.additionalProperties = false;
    }
  }
  if (schema.items) out.items = closeObjects(schema.items);
  if (typeof schema.additionalProperties === "object")
    out.additionalProperties = closeObjects(schema.additionalProperties);
  return out;
}

/** /spec/http/0/route -> spec.http[0].route */
function fieldPath(error: ErrorObject): string {
  const parts = error.instancePath
    .split("/")
    .slice(1)
    .map((p) => p.replaceAll("~1", "/").replaceAll("~0", "~"));
  if (error.keyword === "additionalProperties") parts.push(String(error.params.additionalProperty));
  if (error.keyword === "required") parts.push(String(error.params.missingProperty));
  return parts.reduce(
    (path, part) => (/^\d+$/.test(part) ? `${path}[${part}]` : path ? `${path}.${part}` : part),
    "",
  );
}

function describe(error: ErrorObject): string {
  switch (error.keyword) {
    case "additionalProperties":
      return "unknown field";
    case "required":
      return "Required value";
    case "enum":
      return `Unsupported value: supported values: ${(error.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")}`;
    default:
      return error.message ?? error.keyword;
  }
}

let validators: Map<string, ValidateFunction> | undefined;

function validatorFor(kind: string): ValidateFunction | undefined {
  if (!validators) {
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats.default(ajv);
    validators = new Map(
      CRDS.map((crd: CrdDefinition) => [crd.kind, ajv.compile(closeObjects(crdSchema(crd)))]),
    );
  }
  return validators.get(kind);
}

/**
 * Validates a Skiff object offline against the same schema the CRDs carry.
 * It checks types, enums, patterns, ranges, required and unknown fields; the
 * CEL rules (x-kubernetes-validations) need the API server and are not run.
 */
export function validateObject(obj: unknown): ValidationIssue[] {
  if (typeof obj !== "object" || obj === null) return [{ field: "", message: "not an object" }];
  const { apiVersion, kind } = obj as { apiVersion?: unknown; kind?: unknown };
  if (apiVersion !== API_VERSION) return [{ field: "apiVersion", message: `must be ${API_VERSION}` }];
  const validate = validatorFor(String(kind));
  if (!validate) {
    return [{ field: "kind", message: `must be one of ${CRDS.map((c) => c.kind).join(", ")}` }];
  }
  if (validate(obj)) return [];
  return (validate.errors ?? []).map((e) => ({ field: fieldPath(e), message: describe(e) }));
}
