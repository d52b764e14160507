/**
 * What each AuthorizationPolicy value may hold: the one place that decides
 * it. The CRD schema takes the patterns (authorizationpolicy.ts), compile
 * and the validating webhook the same patterns for `when` values, whose
 * syntax depends on the key (compile/security-issues.ts), and docs/API.md
 * describes them.
 *
 * Every value has Istio's wildcard syntax (exact, `prefix*`, `*suffix`, or
 * `*` alone); the characters between the wildcards are what differ. A value
 * is refused when Envoy would NACK the configuration made from it, or when
 * Envoy and `skiff simulate` (src/policy) could decide it differently.
 * Values no request can ever carry (control characters, spaces in a path)
 * are refused too: such a rule can never match, which is never what its
 * author meant.
 *
 * The patterns are schema patterns, not CEL: checking every value of every
 * list of every rule in CEL exceeds the API server's cost budget, while
 * patterns cost nothing and Ajv checks them offline too. They are written
 * for both Go's regexp (the API server) and JavaScript's (Ajv, compile).
 */

/** One kind of value: its characters (between the wildcards) and why. */
export interface ValueSyntax {
  /** The schema pattern for a whole value. */
  readonly pattern: string;
  /** What a refused value breaks, for descriptions, messages and docs. */
  readonly rule: string;
}

/** A value of `chars` with `*` only alone, at the start or at the end. */
const wildcard = (chars: string, repeat = "+") => `^([*]|[*]?${chars}${repeat}|${chars}${repeat}[*])$`;

/** Anything but `*` and control characters (U+0000-U+001F, U+007F): no request carries those in an attribute. */
const ANY_CHARS = "[^*\\x00-\\x1f\\x7f]";
/** Printable ASCII, without space and `*`. */
const ASCII_CHARS = "[!-)+-~]";

export const VALUE: ValueSyntax = {
  pattern: wildcard(ANY_CHARS),
  rule: "no control characters (NUL, CR, LF, TAB...)",
};

/**
 * Paths: no space either. No request line or :path carries one (Envoy's
 * codecs refuse it, and `skiff simulate --path` asks for it percent-encoded).
 */
export const PATH: ValueSyntax = {
  pattern: wildcard("[^*\\x00-\\x20\\x7f]"),
  rule: "no spaces or control characters (percent-encode them, as requests carry them)",
};

/**
 * Hosts, principals and SNI: printable ASCII. Hosts are compared
 * case-insensitively, and Envoy folds ASCII only, where Unicode folding
 * (`skiff simulate`) would also match `K` (U+212A, the Kelvin sign) to `k`.
 * SPIFFE IDs are ASCII URIs, so a non-ASCII principal names no peer.
 */
export const ASCII: ValueSyntax = {
  pattern: wildcard(ASCII_CHARS),
  rule: "printable ASCII without spaces (hosts and SPIFFE identities are ASCII)",
};

/** HTTP methods are tokens (RFC 9110); a method with a space or a control character never arrives. */
export const METHOD: ValueSyntax = {
  pattern: wildcard("[-!#$%&'+.^_`|~0-9A-Za-z]"),
  rule: "an HTTP token (letters, digits and !#$%&'+-.^_`|~)",
};

/**
 * Namespaces: the characters of a namespace name (a DNS label), at most 63.
 * Envoy matches a namespace with the regex `.*\/ns/<value>/.*` over the
 * whole SPIFFE URI, so a `/` in the value could match across the
 * identity's other parts (`*o/sa` matches `ns/foo/sa/...`), where `skiff
 * simulate` compares the namespace alone.
 */
export const NAMESPACE: ValueSyntax = {
  pattern: wildcard("[a-z0-9-]", "{1,63}"),
  rule: "a namespace name: lowercase letters, digits and '-', at most 63 characters",
};

/** The wildcard syntax, for descriptions. */
export const VALUE_SYNTAX =
  "Each value is an exact match, a prefix match (abc*), a suffix match (*abc), or * for any non-empty value.";

/** The message for a value that does not have its syntax, as the webhook and compile say it. */
export const valueMessage = (syntax: ValueSyntax) =>
  `must be an exact value, prefix*, *suffix or * alone, with ${syntax.rule}`;

/** Whether a value has the syntax; `u` reads the pattern as Ajv does. */
export const hasSyntax = (syntax: ValueSyntax, value: string) => new RegExp(syntax.pattern, "u").test(value);

// --- Addresses ----------------------------------------------------------------------

/**
 * ipBlocks and the address keys of `when` take what Kubernetes' CEL isIP and
 * isCIDR take: src/net's grammar, without IPv4-mapped IPv6 addresses
 * (::ffff:0:0/96), which CEL refuses and which no IPv4 peer matches in Envoy
 * or simulate (the families differ).
 */
export const IP_MESSAGE = "must be an IP address such as 10.1.2.3 or a CIDR such as 10.0.0.0/16";

// --- Header names in `when` keys ------------------------------------------------------

/**
 * A header name in `request.headers[<name>]` is an HTTP token (RFC 9110),
 * or one of the request pseudo-headers that both Envoy and `skiff simulate`
 * know: `:authority` (which `host` also names in Envoy), `:method` and
 * `:path` (with its query string). Envoy NACKs a header matcher whose name
 * holds NUL, CR or LF (the whole listener with it), and a name that is not a
 * token never arrives. Other pseudo-headers are refused: `:scheme` is not
 * something simulate's requests say, and `:status` or an unknown one is
 * never on a request.
 */
export const HEADER_NAME_PATTERN = "^([-!#$%&'*+.^_`|~0-9A-Za-z]+|:authority|:method|:path)$";
export const HEADER_NAME_MESSAGE =
  "the header name in request.headers[<name>] must be an HTTP token (letters, digits and !#$%&'*+-.^_`|~) or one of the pseudo-headers :authority, :method and :path";
