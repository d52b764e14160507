/**
 * Kubernetes' object name rules (k8s.io/apimachinery/pkg/util/validation).
 * Each answers undefined for a valid name, or why it is not one, in
 * Kubernetes' words.
 */

const LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL = new RegExp(`^${LABEL}$`);
const DNS1123_SUBDOMAIN = new RegExp(`^${LABEL}(\\.${LABEL})*$`);

/** An RFC 1123 label, as Namespace names (and Services') must be: at most 63 characters. */
export function dns1123LabelProblem(value: unknown): string | undefined {
  if (typeof value !== "string") return "must be a string";
  if (value.length > 63) return "must be no more than 63 characters";
  if (!DNS1123_LABEL.test(value))
    return "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc')";
  return undefined;
}

/** An RFC 1123 subdomain, as the names of most kinds (custom resources included) must be: at most 253 characters. */
export function dns1123SubdomainProblem(value: unknown): string | undefined {
  if (typeof value !== "string") return "must be a string";
  if (value.length > 253) return "must be no more than 253 characters";
  if (!DNS1123_SUBDOMAIN.test(value))
    return "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')";
  return undefined;
}

/*
 * Label rules (IsQualifiedName and IsValidLabelValue). The patterns are
 * shared with the CRD schemas, which put them inside CEL string literals:
 * hence `[.]` rather than a backslash.
 */

/** A label value: at most 63 characters (maxLength says so), or empty. */
export const LABEL_VALUE_PATTERN = "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$";
/** A label key's shape: an optional DNS subdomain prefix and `/`, then a name of at most 63 characters. */
export const LABEL_KEY_PATTERN =
  "^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$";
/** A label key's prefix is at most 253 characters, which LABEL_KEY_PATTERN cannot say. */
export const LABEL_KEY_PREFIX_LENGTH_PATTERN = "^([^/]{1,253}/)?[^/]+$";

export const LABEL_KEY_RULES =
  "an optional DNS subdomain prefix of at most 253 characters and a slash, then a name of at most 63 characters: letters, digits, '-', '_' and '.', starting and ending with a letter or digit (e.g. app, or skiff.dev/injection)";
export const LABEL_VALUE_RULES =
  "at most 63 characters: letters, digits, '-', '_' and '.', starting and ending with a letter or digit; or empty";

const LABEL_KEY = new RegExp(LABEL_KEY_PATTERN);
const LABEL_KEY_PREFIX_LENGTH = new RegExp(LABEL_KEY_PREFIX_LENGTH_PATTERN);
const LABEL_VALUE = new RegExp(LABEL_VALUE_PATTERN);

/** A label key, as Pod and Namespace labels and selectors use them. */
export function labelKeyProblem(value: unknown): string | undefined {
  if (typeof value !== "string") return "must be a string";
  if (!LABEL_KEY.test(value) || !LABEL_KEY_PREFIX_LENGTH.test(value))
    return `must be a label key: ${LABEL_KEY_RULES}`;
  return undefined;
}

/** A label value. */
export function labelValueProblem(value: unknown): string | undefined {
  if (typeof value !== "string") return "must be a string";
  if (value.length > 63 || !LABEL_VALUE.test(value)) return `must be a label value: ${LABEL_VALUE_RULES}`;
  return undefined;
}
