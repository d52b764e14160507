/**
 * A small vocabulary for writing Kubernetes structural schemas (OpenAPI v3 as
 * CRDs accept it) in TypeScript. The CRD YAML, the TypeScript types and the
 * Ajv validators are all generated from schemas written with these helpers,
 * so there is exactly one source of truth for the API.
 *
 * Every helper takes a description first: an undocumented field cannot be
 * written, and `kubectl explain` has something to say about every field.
 */

import {
  LABEL_KEY_PATTERN,
  LABEL_KEY_PREFIX_LENGTH_PATTERN,
  LABEL_KEY_RULES,
  LABEL_VALUE_PATTERN,
  LABEL_VALUE_RULES,
} from "../k8s/names.js";

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

/**
 * Go-style durations as Envoy and Istio users write them: `500ms`, `2s`,
 * `1h30m`. Units come in Go's order (h, m, s, ms, us, ns), each at most once,
 * with few enough digits that no value overflows Go's int64 nanoseconds
 * (the most is under 4.6e18 ns, about 146 years). That is CEL's duration type
 * too: a string past it makes `duration()` fail with an error rather than
 * return false, and the API server does not ratchet a rule that errors, so a
 * stored object with such a value could never be updated again, not even
 * its status. (`[.]`: no backslash to escape in the CEL string literal.)
 */
export const DURATION_PATTERN =
  "^([0-9]{1,6}([.][0-9]+)?h)?([0-9]{1,7}([.][0-9]+)?m)?([0-9]{1,8}([.][0-9]+)?s)?([0-9]{1,11}([.][0-9]+)?ms)?([0-9]{1,14}([.][0-9]+)?us)?([0-9]{1,17}([.][0-9]+)?ns)?$";

/**
 * The range a duration field accepts, inclusive, as Go-style durations.
 * `max` is required: a value past protobuf's Duration range (315,576,000,000 s)
 * cannot be encoded, and Envoy refuses more than 9,223,372,036 s (int64
 * nanoseconds) in the many fields it converts to milliseconds. `min` is
 * needed where Envoy requires a positive value or reads the field in
 * milliseconds and gives 0 another meaning; omitted, it is 0s.
 */
export interface DurationRange {
  min?: string;
  max: string;
}

/**
 * A bounded Go-style duration. The bound is a CEL rule on the field itself,
 * so the API server's error names the field. The rule checks the pattern
 * first, so that it is false, never an error, for any string (see
 * DURATION_PATTERN).
 */
export function duration(description: string, range: DurationRange, options: Options = {}): Schema {
  const { min, max } = range;
  const bounds = [
    ...(min ? [`duration(self) >= duration('${min}')`] : []),
    `duration(self) <= duration('${max}')`,
  ];
  return withRules(
    string(`${description} A duration such as 500ms, 2s, 1m or 1h30m, from ${min ?? "0s"} to ${max}.`, {
      pattern: DURATION_PATTERN,
      minLength: 2,
      maxLength: 32,
      ...options,
    }),
    {
      rule: [`self.matches('${DURATION_PATTERN}')`, ...bounds].join(" && "),
      message: min ? `must be from ${min} to ${max}` : `must be at most ${max}`,
    },
  );
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

const isLabelKey = (x: string) =>
  `${x}.matches('${LABEL_KEY_PATTERN}') && ${x}.matches('${LABEL_KEY_PREFIX_LENGTH_PATTERN}')`;

/**
 * A label key, as in a selector's matchExpressions. Kubernetes' label rules
 * matter wherever a selector is written: one that breaks them can never
 * match, so it would select nothing, silently, and the API server refuses it
 * where it evaluates selectors itself (a webhook's namespaceSelector).
 */
export function labelKey(description: string): Schema {
  return withRules(string(description, { minLength: 1, maxLength: 317, pattern: LABEL_KEY_PATTERN }), {
    rule: isLabelKey("self"),
    message: `must be a label key: ${LABEL_KEY_RULES}`,
  });
}

/** A label value, as in a selector's matchExpressions. */
export function labelValue(description: string): Schema {
  return string(`${description} A label value: ${LABEL_VALUE_RULES}.`, {
    maxLength: 63,
    pattern: LABEL_VALUE_PATTERN,
  });
}

/** A Kubernetes label map, as `matchLabels` or Pod labels: keys and values follow Kubernetes' label rules. */
export function labels(description: string, options: Options = {}): Schema {
  return withRules(
    map(description, labelValue("The value of the label."), { maxProperties: 64, ...options }),
    {
      rule: `self.all(k, ${isLabelKey("k")})`,
      message: `keys must be label keys: ${LABEL_KEY_RULES}`,
    },
  );
}

/** Names the TypeScript type generated for a schema node. */
export function titled(title: string, schema: Schema): Schema {
  return { ...schema, title };
}
