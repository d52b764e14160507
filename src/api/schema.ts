/**
 * A small vocabulary for writing Kubernetes structural schemas (OpenAPI v3 as
 * CRDs accept it) in TypeScript. The CRD YAML, the TypeScript types and the
 * Ajv validators are all generated from schemas written with these helpers,
 * so there is exactly one source of truth for the API.
 *
 * Every helper takes a description first: an undocumented field cannot be
 * written, and `kubectl explain` has something to say about every field.
 */

/** A CEL rule, as `x-kubernetes-validations` holds it. */
export interface ValidationRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  /** Where the error is reported, relative to the node carrying the rule (e.g. `.portLevelMtls`). */
  fieldPath?: string;
  reason?: "FieldValueInvalid" | "FieldValueForbidden" | "FieldValueRequired" | "FieldValueDuplicate";
}

/** The subset of JSON-Schema-Props that Skiff's CRDs use. */
export interface Schema {
  type?: "object" | "array" | "string" | "integer" | "number" | "boolean";
  description: string;
  /** Names the generated TypeScript type; stripped from the CRD. */
  title?: string;
  format?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: Schema | boolean;
  items?: Schema;
  enum?: readonly (string | number | boolean)[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  default?: unknown;
  nullable?: boolean;
  "x-kubernetes-validations"?: ValidationRule[];
  "x-kubernetes-list-type"?: "atomic" | "set" | "map";
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-map-type"?: "atomic" | "granular";
  "x-kubernetes-int-or-string"?: boolean;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
}

type Options = Omit<Partial<Schema>, "description" | "type">;

export function string(description: string, options: Options = {}): Schema {
  return { type: "string", description, ...options };
}

export function integer(description: string, options: Options = {}): Schema {
  return { type: "integer", format: "int32", description, ...options };
}

export function number(description: string, options: Options = {}): Schema {
  return { type: "number", format: "double", description, ...options };
}

export function boolean(description: string, options: Options = {}): Schema {
  return { type: "boolean", description, ...options };
}

export function enumOf(description: string, values: readonly string[], options: Options = {}): Schema {
  return { type: "string", description, enum: values, ...options };
}

export function object(
  description: string,
  properties: Record<string, Schema>,
  options: Options = {},
): Schema {
  return { type: "object", description, properties, ...options };
}

export function array(description: string, items: Schema, options: Options & { maxItems: number }): Schema {
  return { type: "array", description, items, ...options };
}

/** A string-keyed map; `values` describes each value. */
export function map(
  description: string,
  values: Schema,
  options: Options & { maxProperties: number },
): Schema {
  return { type: "object", description, additionalProperties: values, ...options };
}

/** Attaches CEL rules to a schema node. */
export function withRules(schema: Schema, ...rules: ValidationRule[]): Schema {
  return { ...schema, "x-kubernetes-validations": [...(schema["x-kubernetes-validations"] ?? []), ...rules] };
}

/** Go-style durations as Envoy and Istio users write them: `500ms`, `2s`, `1h30m`. */
export const DURATION_PATTERN = "^([0-9]+(\\.[0-9]+)?(h|m|s|ms|us|ns))+$";

export function duration(description: string, options: Options = {}): Schema {
  return string(`${description} A duration such as 500ms, 2s, 1m or 1h30m.`, {
    pattern: DURATION_PATTERN,
    maxLength: 32,
    ...options,
  });
}

export function percent(description: string, options: Options = {}): Schema {
  return number(`${description} A percentage from 0 to 100; fractions such as 0.5 are allowed.`, {
    minimum: 0,
    maximum: 100,
    ...options,
  });
}

export function port(description: string, options: Options = {}): Schema {
  return integer(description, { minimum: 1, maximum: 65535, ...options });
}

/** A Kubernetes label or annotation map, as `matchLabels` or Pod labels. */
export function labels(description: string, options: Options = {}): Schema {
  return map(description, string("A label value.", { maxLength: 63 }), { maxProperties: 64, ...options });
}

/** Names the TypeScript type generated for a schema node. */
export function titled(title: string, schema: Schema): Schema {
  return { ...schema, title };
}
