import type { Schema, ValidationRule } from "../schema.js";
import {
  array,
  boolean,
  duration,
  enumOf,
  integer,
  labels,
  map,
  object,
  percent,
  port,
  string,
  titled,
  withRules,
} from "../schema.js";
import { conditionColumn, conditionedStatus, skiffCrd } from "./common.js";

const DNS_LABEL = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/** CEL: exactly one of the listed optional fields is set. */
export function exactlyOneOf(fields: readonly string[]): ValidationRule {
  const has = fields.map((f) => `has(self.${f})`).join(", ");
  return {
    rule: `[${has}].filter(x, x).size() == 1`,
    message: `exactly one of ${fields.join(", ")} must be set`,
  };
}

/**
 * Durations: no Envoy field here has a maximum of its own (beyond the int64
 * nanoseconds that its millisecond conversion allows), so timers stop at a
 * year, far past any useful value.
 */
const MAX_TIMER = "8760h";

/**
 * A timer that Envoy reads in whole milliseconds and that must be positive:
 * connect_timeout, outlier detection's interval and base_ejection_time and
 * the fault filter's fixed_delay have a `gt: 0` proto rule, and a route
 * timeout, per-try timeout or idle timeout of 0 (which is what anything under
 * 1ms becomes) switches the timer off, the opposite of what was written.
 * Omitting the field is how to have none.
 */
const ENVOY_MS_TIMER = { min: "1ms", max: MAX_TIMER };

const REGEX_NOTE = "A regular expression in RE2 syntax, matched against the whole value.";

/**
 * An HTTP header name: a token (RFC 9110), in either case, as Envoy
 * lowercases names itself. No spaces, and no `:`, so no pseudo-header.
 * (A CEL string literal in double quotes holds it: it contains `'`.)
 */
const HEADER_NAME_TOKEN = "^[-!#$%&'*+.^_`|~0-9A-Za-z]+$";

/**
 * Envoy refuses to add, set or remove pseudo-headers (`:path`,
 * `:authority` …) and `host`, in requests and responses alike: the route is
 * NACKed. rewrite.authority is how a rule changes the authority.
 */
const changeableHeaderName = (x: string) =>
  `${x}.matches("${HEADER_NAME_TOKEN}") && ${x}.lowerAscii() != 'host'`;
const CHANGEABLE_HEADER_NAME =
  "a header name Envoy can change: an HTTP token (letters, digits and !#$%&'*+-.^_`|~, no spaces), and neither host nor a pseudo-header such as :path or :authority (rewrite.authority changes the authority)";

/** What Envoy accepts in a header value: anything but CR, LF and NUL, which would split or end the header. */
const HEADER_VALUE_PATTERN = "^[^\\r\\n\\x00]*$";

/** host[:port], where the host is a DNS name, an IPv4 address or a bracketed IPv6 address. */
const AUTHORITY_PATTERN = "^([A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?|\\[[0-9A-Fa-f:.]+\\])(:[0-9]{1,5})?$";

const pathMatch = titled(
  "PathMatch",
  withRules(
    object(
      "Matches the request path (without the query string). Set exactly one of exact, prefix or regex.",
      {
        exact: string("The path must equal this.", { maxLength: 1024, pattern: "^/" }),
        prefix: string(
          "The path must start with this. A prefix of /api matches /api and /api/v1; as in Istio, it is not limited to whole path segments.",
          { maxLength: 1024, pattern: "^/" },
        ),
        regex: string(`The path must match this. ${REGEX_NOTE}`, { maxLength: 1024, minLength: 1 }),
      },
    ),
    exactlyOneOf(["exact", "prefix", "regex"]),
  ),
);

/**
 * A header or query parameter condition. Envoy can negate and test for the
 * absence of headers, but not of query parameters, so the query form has no
 * invert and allows only present: true: the API never accepts a condition
 * the proxies would silently ignore.
 */
const keyValueMatch = (
  what: string,
  nameDescription: string,
  options: { namePattern?: string; negatable: boolean },
) =>
  withRules(
    object(
      options.negatable
        ? `Matches one ${what}. Set exactly one of exact, prefix, regex or present. With invert, the match is negated.`
        : `Matches one ${what}. Set exactly one of exact, prefix, regex or present.`,
      {
        name: string(nameDescription, {
          minLength: 1,
          maxLength: 256,
          ...(options.namePattern ? { pattern: options.namePattern } : {}),
        }),
        exact: string(`The ${what} must equal this.`, { maxLength: 4096 }),
        prefix: string(`The ${what} must start with this.`, { maxLength: 4096, minLength: 1 }),
        regex: string(`The ${what} must match this. ${REGEX_NOTE}`, { maxLength: 1024, minLength: 1 }),
        ...(options.negatable
          ? {
              present: boolean(
                `true: the ${what} must be present, with any value. false: it must be absent.`,
              ),
              invert: boolean("Negate the match: the rule matches when the condition above does not hold.", {
                default: false,
              }),
            }
          : {
              present: boolean(
                `Must be true: the ${what} must be present, with any value. Envoy cannot match an absent ${what}.`,
                { enum: [true] },
              ),
            }),
      },
      { required: ["name"] },
    ),
    exactlyOneOf(["exact", "prefix", "regex", "present"]),
  );

const httpMatch = titled(
  "HTTPMatch",
  object(
    "Conditions on a request. Every condition given must hold (AND). An empty match matches every request.",
    {
      path: pathMatch,
      method: string("The HTTP method, such as GET or POST.", { maxLength: 32, pattern: "^[A-Z]+$" }),
      headers: array(
        "Header conditions; all must hold.",
        keyValueMatch(
          "header",
          "The header name, in lower case. Pseudo-headers such as :authority are allowed.",
          {
            namePattern: "^:?[a-z0-9!#$%&'*+.^_`|~-]+$",
            negatable: true,
          },
        ),
        { maxItems: 16, "x-kubernetes-list-type": "atomic" },
      ),
      queryParams: array(
        "Query parameter conditions; all must hold.",
        keyValueMatch("query parameter", "The query parameter name.", { negatable: false }),
        { maxItems: 16, "x-kubernetes-list-type": "atomic" },
      ),
    },
  ),
);

/**
 * The most regexes one policy may hold. The validating webhook compiles each
 * (RE2 syntax is not something CEL can check), and so does every proxy; the
 * schema alone would allow over 30,000, which would hold the operator, and
 * with it sidecar injection, for minutes. Real policies use a handful.
 */
const MAX_REGEXES = 128;

const regexBudget: ValidationRule = {
  rule: `self.map(r, has(r.match) ? r.match.map(m, (has(m.path) && has(m.path.regex) ? 1 : 0) + (has(m.headers) ? m.headers.filter(h, has(h.regex)).size() : 0) + (has(m.queryParams) ? m.queryParams.filter(q, has(q.regex)).size() : 0)).sum() : 0).sum() <= ${MAX_REGEXES}`,
  message: `a policy holds at most ${MAX_REGEXES} regexes (path, header and query parameter matches together)`,
};

const destination = titled(
  "Destination",
  object(
    "A weighted destination: a subset of the target Service, or the whole Service when subset is omitted.",
    {
      subset: string("A subset name from spec.subsets. Omitted: every endpoint of the target Service.", {
        maxLength: 63,
        pattern: DNS_LABEL,
      }),
      weight: integer(
        "The share of traffic, from 0 to 100. The weights in one route must sum to 100; a route with a single destination may omit its weight, which then means 100.",
        { minimum: 0, maximum: 100 },
      ),
    },
  ),
);

const weightsSumTo100: ValidationRule = {
  rule: "self.map(d, has(d.weight) ? d.weight : (self.size() == 1 ? 100 : 0)).sum() == 100",
  // A messageExpression quoting the actual sum costs more than the API server's CEL budget allows here.
  message: "the weights of a route must sum to 100 (a single destination may omit its weight)",
};

/** Two entries for one destination would split one cluster's weight in two; each appears once. */
const destinationsDistinct: ValidationRule = {
  rule: "self.all(d, self.filter(o, has(o.subset) == has(d.subset) && (!has(d.subset) || o.subset == d.subset)).size() == 1)",
  message:
    "a route names each destination once: each subset, and the whole Service (no subset), at most once",
};

const route = (what: string) =>
  withRules(
    array(`Where ${what} goes, split by weight.`, destination, {
      minItems: 1,
      maxItems: 16,
      "x-kubernetes-list-type": "atomic",
    }),
    weightsSumTo100,
    destinationsDistinct,
  );

const RETRY_ON = [
  "5xx",
  "gateway-error",
  "reset",
  "connect-failure",
  "retriable-4xx",
  "refused-stream",
  "retriable-status-codes",
  "envoy-ratelimited",
  "cancelled",
  "deadline-exceeded",
  "internal",
  "resource-exhausted",
  "unavailable",
] as const;

const retries = titled(
  "RetryPolicy",
  object(
    "How failed requests are retried. When a rule has no retries, Skiff applies Istio's default: 2 attempts on connect-failure, refused-stream, unavailable, cancelled and retriable-status-codes.",
    {
      attempts: integer("The number of retries (not counting the first try). 0 turns retries off.", {
        minimum: 0,
        maximum: 100,
      }),
      perTryTimeout: duration(
        "The timeout of each try, including the first. Defaults to the rule's timeout.",
        ENVOY_MS_TIMER,
      ),
      retryOn: array(
        "The conditions that trigger a retry: Envoy's HTTP retry policies (5xx, gateway-error, reset, connect-failure, retriable-4xx, refused-stream, retriable-status-codes, envoy-ratelimited) and gRPC status names (cancelled, deadline-exceeded, internal, resource-exhausted, unavailable).",
        enumOf("A retry condition.", RETRY_ON),
        { maxItems: RETRY_ON.length, "x-kubernetes-list-type": "set" },
      ),
    },
    { required: ["attempts"] },
  ),
);

/** gRPC status names in code order, from 1 (CANCELLED): a name's index plus one is its code. */
export const GRPC_STATUS = [
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
] as const;

const fault = titled(
  "FaultInjection",
  withRules(
    object(
      "Faults injected into requests, to test how clients cope. Set delay, abort or both. Retries and timeouts are not applied to injected faults.",
      {
        delay: object(
          "Delay a share of requests before forwarding them.",
          {
            fixedDelay: duration("How long to delay.", ENVOY_MS_TIMER),
            percent: percent("The share of requests delayed.", { default: 100 }),
          },
          { required: ["fixedDelay"] },
        ),
        abort: withRules(
          object(
            "Answer a share of requests with an error instead of forwarding them. Set exactly one of httpStatus or grpcStatus.",
            {
              httpStatus: integer("The HTTP status to answer with.", { minimum: 200, maximum: 599 }),
              grpcStatus: enumOf("The gRPC status to answer with, by name.", GRPC_STATUS),
              percent: percent("The share of requests aborted.", { default: 100 }),
            },
          ),
          exactlyOneOf(["httpStatus", "grpcStatus"]),
        ),
      },
    ),
    { rule: "has(self.delay) || has(self.abort)", message: "a fault needs delay, abort or both" },
  ),
);

const headerValue = string("The header value: any text without CR, LF or NUL.", {
  maxLength: 4096,
  pattern: HEADER_VALUE_PATTERN,
});

/** A map from header name to value; the names are checked by CEL, as a map's keys have no schema. */
const headerMap = (description: string) =>
  withRules(map(`${description} Keyed by header name.`, headerValue, { maxProperties: 32 }), {
    rule: `self.all(k, ${changeableHeaderName("k")})`,
    message: `each key must be ${CHANGEABLE_HEADER_NAME}`,
  });

const headerOperations = (what: string) =>
  object(`Changes to the ${what} headers.`, {
    set: headerMap("Headers to set, replacing any existing value."),
    add: headerMap("Headers to append, keeping any existing value."),
    remove: array(
      "Header names to remove.",
      withRules(string("A header name.", { minLength: 1, maxLength: 256 }), {
        rule: changeableHeaderName("self"),
        message: `must be ${CHANGEABLE_HEADER_NAME}`,
      }),
      { maxItems: 32, "x-kubernetes-list-type": "set" },
    ),
  });

/** Status codes of a redirect: the ones Envoy can send (its RedirectAction's response codes). */
export const REDIRECT_CODES = [301, 302, 303, 307, 308] as const;

const redirect = titled(
  "HTTPRedirect",
  withRules(
    object(
      "Answers matching requests with an HTTP redirect instead of forwarding them, as Istio's HTTPRedirect: the client's proxy replies itself, so the request never reaches the target. The Location header is the request's URL with the parts given here replaced. Set at least one of uri, authority, port or scheme.",
      {
        uri: string(
          "Replaces the whole path of the URL, whatever the rule's match (exact, prefix or regex). The request's query string is kept, unless this value carries its own.",
          { minLength: 1, maxLength: 1024, pattern: "^/[^\\s]*$" },
        ),
        authority: string(
          "Replaces the host of the URL, and with it the request's port. A host name or IP address, optionally with :port when port is not set.",
          {
            minLength: 1,
            maxLength: 253,
            pattern: AUTHORITY_PATTERN,
          },
        ),
        port: port(
          "Replaces the port of the URL. Omitted: with authority, the port written in it, if any; without, the request's port, dropped when scheme changes and it is the old scheme's default (80 or 443).",
        ),
        scheme: enumOf("Replaces the scheme of the URL. Omitted: the request's scheme.", ["http", "https"]),
        redirectCode: integer("The HTTP status of the redirect: 301, 302, 303, 307 or 308. Omitted: 301.", {
          enum: REDIRECT_CODES,
        }),
      },
    ),
    {
      rule: "has(self.uri) || has(self.authority) || has(self.port) || has(self.scheme)",
      message: "a redirect needs uri, authority, port or scheme",
    },
    {
      rule: "!has(self.port) || !has(self.authority) || !self.authority.matches(':[0-9]+$')",
      message: "authority must not carry a port when port is set",
      fieldPath: ".authority",
    },
  ),
);

/**
 * A redirect rule answers the request in the client's proxy, so the fields
 * that act on a forwarded request cannot go with it. Istio refuses route,
 * fault and rewrite; Skiff also refuses the ones Istio accepts and Envoy then
 * ignores (there is no upstream request to time out, retry, copy or add
 * headers to), as the API never accepts what the proxies would silently drop.
 */
const notWithRedirect: ValidationRule[] = [
  ["fault", "has(self.fault)"],
  ["rewrite", "has(self.rewrite)"],
  ["mirror", "has(self.mirror)"],
  ["retries", "has(self.retries)"],
  ["timeout", "has(self.timeout)"],
  ["headers.request", "has(self.headers) && has(self.headers.request)"],
].map(([field, present]) => ({
  rule: `!has(self.redirect) || !(${present})`,
  message: `a redirect rule cannot have ${field}: the client's proxy answers it, nothing is forwarded`,
  fieldPath: `.${field}`,
}));

/** The rule's fields; httpRule adds the CEL rules that relate them. */
const httpRuleFields = titled(
  "HTTPRule",
  object(
    "An HTTP routing rule. Rules are tried in order and the first whose match fits the request is used. Set exactly one of route (forward the request) or redirect (answer it with a redirect).",
    {
      name: string("A name for the rule, used in status, metrics and `skiff simulate`.", {
        maxLength: 63,
        pattern: DNS_LABEL,
      }),
      match: array(
        "The requests this rule applies to: a request must fit one of the matches (OR). Omitted or empty: every request.",
        httpMatch,
        { maxItems: 16, "x-kubernetes-list-type": "atomic" },
      ),
      route: route("a matching request"),
      timeout: duration(
        "The timeout for the whole request, including retries. Omitted: no timeout.",
        ENVOY_MS_TIMER,
      ),
      retries,
      fault,
      mirror: object(
        "Send a copy of a share of requests to another destination; responses to copies are discarded.",
        {
          subset: string("The subset that receives the copies. Omitted: the whole target Service.", {
            maxLength: 63,
            pattern: DNS_LABEL,
          }),
          percent: percent("The share of requests copied.", { default: 100 }),
        },
      ),
      headers: object("Header changes for requests and responses on this rule.", {
        request: headerOperations("request"),
        response: headerOperations("response"),
      }),
      rewrite: withRules(
        object("Rewrites the request before it is forwarded.", {
          uriPrefix: string(
            "Replaces the matched path prefix (or the whole path for an exact or regex match) with this value.",
            { maxLength: 1024, minLength: 1, pattern: "^/" },
          ),
          authority: string(
            "Replaces the Host/:authority header: a host name or IP address, optionally with :port.",
            { maxLength: 253, minLength: 1, pattern: AUTHORITY_PATTERN },
          ),
        }),
        {
          rule: "has(self.uriPrefix) || has(self.authority)",
          message: "a rewrite needs uriPrefix, authority or both",
        },
      ),
      redirect,
    },
  ),
);

const httpRule = withRules(httpRuleFields, exactlyOneOf(["route", "redirect"]), ...notWithRedirect);

const tcpRule = titled(
  "TCPRule",
  object("A TCP routing rule: where connections to the target Service go.", {
    route: route("a connection"),
  }),
);

const HASHED = ["RingHash", "Maglev"];

const hash = titled(
  "HashPolicy",
  withRules(
    object(
      "What consistent hashing (RingHash, Maglev) hashes on. Set exactly one of header, cookie, sourceIP or queryParam.",
      {
        header: string("Hash on this request header: a header name, or a pseudo-header such as :authority.", {
          minLength: 1,
          maxLength: 256,
          pattern: `^:?${HEADER_NAME_TOKEN.slice(1)}`,
        }),
        cookie: object(
          "Hash on this cookie. When the cookie is missing and ttl is set, the proxy creates it.",
          {
            name: string("The cookie name: an HTTP token, as RFC 6265 requires.", {
              minLength: 1,
              maxLength: 256,
              pattern: HEADER_NAME_TOKEN,
            }),
            ttl: duration(
              "The lifetime of a generated cookie; 0s makes a session cookie. Omitted: no cookie is generated.",
              { max: "87600h" },
            ),
            path: string("The path of a generated cookie.", { maxLength: 1024 }),
          },
          { required: ["name"] },
        ),
        sourceIP: withRules(
          boolean("Hash on the client's IP address. Only true is meaningful; omit the field otherwise."),
          {
            rule: "self == true",
            message: "sourceIP can only be true; omit it to hash on something else",
          },
        ),
        queryParam: string("Hash on this query parameter.", { minLength: 1, maxLength: 256 }),
      },
    ),
    exactlyOneOf(["header", "cookie", "sourceIP", "queryParam"]),
  ),
);

const loadBalancer = titled(
  "LoadBalancer",
  withRules(
    object("How a proxy picks an endpoint.", {
      algorithm: enumOf(
        "The load-balancing algorithm. RingHash and Maglev are consistent hashing and need hash.",
        ["RoundRobin", "LeastRequest", "Random", "RingHash", "Maglev"],
        { default: "RoundRobin" },
      ),
      hash,
    }),
    {
      rule: `self.algorithm in ${JSON.stringify(HASHED).replaceAll('"', "'")} ? has(self.hash) : !has(self.hash)`,
      message: "hash is required with RingHash and Maglev, and allowed only with them",
      fieldPath: ".hash",
    },
  ),
);

const count = (description: string) => integer(description, { minimum: 0, maximum: 2147483647 });

const connectionPool = titled(
  "ConnectionPool",
  object(
    "Limits on connections and requests to the target, per client proxy (Envoy's circuit breakers). Requests past a limit fail fast with 503.",
    {
      tcp: object("TCP connection limits.", {
        maxConnections: integer("The most connections to the target.", { minimum: 1, maximum: 2147483647 }),
        connectTimeout: duration("The TCP connect timeout.", ENVOY_MS_TIMER, { default: "10s" }),
      }),
      http: object("HTTP request limits.", {
        maxPendingRequests: count("The most requests waiting for a connection."),
        maxRequests: count("The most requests in flight."),
        maxRequestsPerConnection: count("The most requests on one connection. 0 means unlimited."),
        maxRetries: count("The most retries in flight across all requests."),
        idleTimeout: duration(
          "Close a connection that has had no active request for this long.",
          ENVOY_MS_TIMER,
        ),
      }),
    },
  ),
);

const outlierDetection = titled(
  "OutlierDetection",
  object(
    "Passive health checking: endpoints that fail repeatedly are ejected from load balancing for a while.",
    {
      consecutive5xxErrors: count(
        "Eject an endpoint after this many consecutive 5xx responses. 0 turns this off.",
      ),
      consecutiveGatewayErrors: count(
        "Eject an endpoint after this many consecutive 502, 503 or 504 responses. 0 turns this off.",
      ),
      interval: duration("How often endpoints are evaluated.", ENVOY_MS_TIMER, { default: "10s" }),
      baseEjectionTime: duration(
        "How long an endpoint is ejected at first; each later ejection lasts longer by this much.",
        ENVOY_MS_TIMER,
        { default: "30s" },
      ),
      maxEjectionPercent: percent("The largest share of endpoints that may be ejected at once.", {
        default: 10,
      }),
    },
  ),
);

const rateLimit = titled(
  "RateLimit",
  object("Rate limits applied on the target's inbound side.", {
    local: object(
      "A token bucket in each instance of the target: each request takes a token, and requests with none left are answered with statusCode.",
      {
        maxTokens: integer("The bucket size: the largest burst.", { minimum: 1, maximum: 2147483647 }),
        tokensPerFill: integer("Tokens added at each fill.", { minimum: 1, maximum: 2147483647 }),
        // Envoy refuses token-bucket fill intervals under 50ms.
        fillInterval: duration("How often tokens are added.", { min: "50ms", max: MAX_TIMER }),
        statusCode: integer("The HTTP status of a rate-limited response.", {
          minimum: 400,
          maximum: 599,
          default: 429,
        }),
      },
      { required: ["maxTokens", "tokensPerFill", "fillInterval"] },
    ),
  }),
);

const subset = titled(
  "Subset",
  object(
    "A named group of the target's endpoints, selected by Pod labels, that routes can send traffic to.",
    {
      name: string("The subset's name, referenced by routes.", { maxLength: 63, pattern: DNS_LABEL }),
      labels: labels("Endpoints whose Pods carry all of these labels belong to the subset.", {
        minProperties: 1,
      }),
    },
    { required: ["name", "labels"] },
  ),
);

const subsetRefsResolve: ValidationRule[] = [
  {
    rule: "!has(self.http) || self.http.all(r, !has(r.route) || r.route.all(d, !has(d.subset) || (has(self.subsets) && self.subsets.exists(s, s.name == d.subset))))",
    message: "every route subset must be defined in spec.subsets",
    fieldPath: ".http",
  },
  {
    rule: "!has(self.http) || self.http.all(r, !has(r.mirror) || !has(r.mirror.subset) || (has(self.subsets) && self.subsets.exists(s, s.name == r.mirror.subset)))",
    message: "every mirror subset must be defined in spec.subsets",
    fieldPath: ".http",
  },
  {
    rule: "!has(self.tcp) || self.tcp.all(r, r.route.all(d, !has(d.subset) || (has(self.subsets) && self.subsets.exists(s, s.name == d.subset))))",
    message: "every route subset must be defined in spec.subsets",
    fieldPath: ".tcp",
  },
];

const spec: Schema = withRules(
  object(
    "The desired traffic behaviour for one Service.",
    {
      targetRef: object(
        "The Service this policy applies to, in the policy's namespace. Only one TrafficPolicy may target a Service: the oldest wins and the others report Accepted=False with reason Conflicted.",
        {
          group: string("The target's API group; empty for the core group.", { default: "", enum: [""] }),
          kind: enumOf("The target's kind.", ["Service"], { default: "Service" }),
          name: string("The target's name.", { minLength: 1, maxLength: 63, pattern: DNS_LABEL }),
        },
        { required: ["name"] },
      ),
      subsets: array("Named groups of the target's endpoints.", subset, {
        maxItems: 32,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
      }),
      http: withRules(
        array(
          "HTTP routing rules, tried in order; the first that matches decides. A request that matches none goes to the whole target Service.",
          httpRule,
          { maxItems: 64, "x-kubernetes-list-type": "atomic" },
        ),
        {
          // Names identify rules in status, metrics and `skiff simulate`; a name is optional.
          rule: "self.all(r, !has(r.name) || self.filter(o, has(o.name) && o.name == r.name).size() == 1)",
          message: "rule names must be unique",
        },
        regexBudget,
      ),
      tcp: array("TCP routing rules for the target's TCP ports. The first rule is used.", tcpRule, {
        maxItems: 16,
        "x-kubernetes-list-type": "atomic",
      }),
      loadBalancer,
      connectionPool,
      outlierDetection,
      rateLimit,
    },
    { required: ["targetRef"] },
  ),
  ...subsetRefsResolve,
);

const status = conditionedStatus("The observed state of the policy.", {
  proxies: object("How the proxies that send traffic to the target have taken this policy.", {
    targeted: count("Proxies whose configuration this policy affects."),
    acked: count("Proxies that accepted a configuration containing this generation."),
    nacked: count("Proxies that rejected it."),
    lastNackMessage: string("Envoy's error detail from the most recent rejection.", { maxLength: 4096 }),
  }),
});

export const trafficPolicyCrd = skiffCrd({
  kind: "TrafficPolicy",
  plural: "trafficpolicies",
  singular: "trafficpolicy",
  shortNames: ["tp"],
  scope: "Namespaced",
  description:
    "TrafficPolicy controls traffic to one Service: subsets, routing (weighted canaries, header and path matches), retries, timeouts, fault injection, mirroring, load balancing, circuit breaking, outlier detection and local rate limits. It covers what Istio splits between VirtualService and DestinationRule.",
  spec,
  status,
  printerColumns: [
    { name: "Target", type: "string", jsonPath: ".spec.targetRef.name", description: "The target Service." },
    conditionColumn("Accepted"),
    conditionColumn("Programmed"),
  ],
});
