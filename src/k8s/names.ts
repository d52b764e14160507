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
