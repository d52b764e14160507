import fc from "fast-check";
import type {
  AuthorizationPolicy,
  AuthorizationPolicySpec,
  Operation,
  Rule,
  RuleCondition,
  Source,
} from "../../src/api/v1alpha1/generated/authorizationpolicy.js";
import type {
  PeerAuthentication,
  PeerAuthenticationSpec,
} from "../../src/api/v1alpha1/generated/peerauthentication.js";
import type {
  ConnectionPool,
  Destination,
  FaultInjection,
  HTTPMatch,
  HTTPRedirect,
  HTTPRule,
  LoadBalancer,
  OutlierDetection,
  RetryPolicy,
  Subset,
  TrafficPolicy,
  TrafficPolicySpec,
} from "../../src/api/v1alpha1/generated/trafficpolicy.js";
import { GRPC_STATUS, REDIRECT_CODES } from "../../src/api/v1alpha1/trafficpolicy.js";
import { MTLS_MODES } from "../../src/api/v1alpha1/peerauthentication.js";

/**
 * fast-check generators of TrafficPolicy, PeerAuthentication and
 * AuthorizationPolicy objects that the API server would admit: each passes
 * the CRD's JSON schema (`validateObject`) and, by construction, its CEL
 * rules (exactly-one-of fields, weights that sum to 100, distinct
 * destinations, subset references that resolve, unique rule names, redirect
 * constraints, hash only with RingHash and Maglev, portLevelMtls only with a
 * selector...). CEL is not run offline, so a new CEL rule needs its
 * counterpart here.
 *
 * Names, labels and ports come from pools the caller gives, so that policies
 * meet the Services and Pods of the state they are placed in: a random label
 * would select nothing, and a random target name would resolve to nothing.
 */
export interface PolicyPools {
  /** Names a TrafficPolicy's targetRef may name. */
  readonly serviceNames: readonly string[];
  /** Label sets that selectors and subsets may use (each one non-empty). */
  readonly labelSets: readonly Readonly<Record<string, string>>[];
  /** Container (target) ports, for portLevelMtls and AuthorizationPolicy ports. */
  readonly ports: readonly number[];
  /** Namespaces that rules may name, and whose ServiceAccounts principals may name. */
  readonly namespaces: readonly string[];
  /** ServiceAccount names, for principals. */
  readonly serviceAccounts: readonly string[];
}

/** Durations as the schema takes them (Go's syntax, units in order), from 1ms to 8760h. */
const ENVOY_TIMERS = ["1ms", "250ms", "1s", "2.5s", "90s", "1m", "1h30m", "8760h"];
/** A token bucket's fill interval: from 50ms (Envoy's minimum). */
const FILL_INTERVALS = ["50ms", "1s", "1m", "8760h"];
/** A generated cookie's ttl: 0s (a session cookie) to 87600h. */
const COOKIE_TTLS = ["0s", "30s", "1h", "87600h"];

const SUBSET_NAMES = ["v1", "v2", "canary"];
const RULE_NAMES = ["canary", "moved", "api", "fallback"];
/** RE2 patterns, all valid (trafficPolicyIssues refuses the others). */
const REGEXES = [".*", "/api/.*", "[a-z]+", "/v[0-9]+/(users|items)", "a{2,3}", "\\d+"];
/** Header names an HTTPMatch may test (lower case, pseudo-headers allowed). */
const MATCH_HEADERS = ["x-user", "x-version", ":authority", "user-agent"];
/** Header names a rule may set, add or remove: tokens, neither host nor pseudo-headers. */
const CHANGEABLE_HEADERS = ["x-team", "x-env", "X-Trace-Id", "x-b3-flags"];
const AUTHORITIES = ["example.com", "api.example.com:8443", "10.0.0.1", "[2001:db8::1]"];

const PERCENTS = [0, 0.5, 10, 50, 99.9, 100];
/** Header values: any text but CR, LF and NUL; `%` is Envoy's substitution character, and literal here. */
const headerValue = fc.oneof(
  fc.constantFrom("", "v1", "100%", "%HOSTNAME%", "a b"),
  fc.string({ maxLength: 12 }).filter((s) => !/[\r\n\0]/.test(s)),
);

/** An object with some of these keys: fc.record with none required. */
const some = <T extends object>(fields: { [K in keyof T]: fc.Arbitrary<T[K]> }) =>
  fc.record(fields, { requiredKeys: [] }) as fc.Arbitrary<Partial<T>>;

/** Exactly one of these single-key objects. */
const oneKey = <T>(options: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<T> =>
  fc.oneof(...Object.entries(options).map(([k, a]) => a.map((v) => ({ [k]: v }) as T)));

// --- TrafficPolicy -------------------------------------------------------------

/** A route: one to three distinct destinations (subsets, or the whole Service) whose weights sum to 100. */
function route(subsetNames: readonly string[]): fc.Arbitrary<Destination[]> {
  const targets: (string | undefined)[] = [undefined, ...subsetNames];
  const destination = (subset: string | undefined, weight?: number): Destination => ({
    ...(subset !== undefined ? { subset } : {}),
    ...(weight !== undefined ? { weight } : {}),
  });
  return fc.subarray(targets, { minLength: 1, maxLength: Math.min(3, targets.length) }).chain((chosen) => {
    if (chosen.length === 1) return fc.constantFrom([destination(chosen[0])], [destination(chosen[0], 100)]);
    return fc
      .array(fc.integer({ min: 0, max: 100 }), {
        minLength: chosen.length - 1,
        maxLength: chosen.length - 1,
      })
      .map((cuts) => {
        const bounds = [0, ...cuts.sort((a, b) => a - b), 100];
        return chosen.map((subset, i) => destination(subset, bounds[i + 1]! - bounds[i]!));
      });
  });
}

const stringMatch = (literal: fc.Arbitrary<string>) =>
  oneKey<{ exact?: string; prefix?: string; regex?: string }>({
    exact: literal,
    prefix: literal.filter((s) => s.length > 0),
    regex: fc.constantFrom(...REGEXES),
  });

const httpMatch: fc.Arbitrary<HTTPMatch> = some<HTTPMatch>({
  path: stringMatch(fc.constantFrom("/", "/api", "/api/v1", "/healthz")),
  method: fc.constantFrom("GET", "POST", "DELETE"),
  headers: fc.array(
    fc
      .tuple(
        fc.constantFrom(...MATCH_HEADERS),
        fc.oneof(
          stringMatch(fc.constantFrom("tester", "v2", "x")),
          fc.boolean().map((present) => ({ present })),
        ),
        fc.option(fc.boolean(), { nil: undefined }),
      )
      .map(([name, match, invert]) => ({ name, ...match, ...(invert !== undefined ? { invert } : {}) })),
    { maxLength: 2 },
  ),
  queryParams: fc.array(
    fc
      .tuple(
        fc.constantFrom("debug", "id"),
        fc.oneof(stringMatch(fc.constantFrom("1", "abc")), fc.constant({ present: true as const })),
      )
      .map(([name, match]) => ({ name, ...match })),
    { maxLength: 2 },
  ),
});

const retries: fc.Arbitrary<RetryPolicy> = fc.record(
  {
    attempts: fc.integer({ min: 0, max: 5 }),
    perTryTimeout: fc.constantFrom(...ENVOY_TIMERS),
    retryOn: fc.subarray(
      ["5xx", "reset", "connect-failure", "retriable-status-codes", "unavailable", "cancelled"] as const,
      { minLength: 1 },
    ),
  },
  { requiredKeys: ["attempts"] },
) as fc.Arbitrary<RetryPolicy>;

const fault: fc.Arbitrary<FaultInjection> = (() => {
  const delay = fc.record(
    { fixedDelay: fc.constantFrom(...ENVOY_TIMERS), percent: fc.constantFrom(...PERCENTS) },
    { requiredKeys: ["fixedDelay"] },
  );
  const abort = fc
    .tuple(
      oneKey<{ httpStatus?: number; grpcStatus?: (typeof GRPC_STATUS)[number] }>({
        httpStatus: fc.integer({ min: 200, max: 599 }),
        grpcStatus: fc.constantFrom(...GRPC_STATUS),
      }),
      fc.option(fc.constantFrom(...PERCENTS), { nil: undefined }),
    )
    .map(([status, percent]) => ({ ...status, ...(percent !== undefined ? { percent } : {}) }));
  return fc.oneof(
    delay.map((d) => ({ delay: d })),
    abort.map((a) => ({ abort: a })),
    fc.record({ delay, abort }),
  ) as fc.Arbitrary<FaultInjection>;
})();

const headerOperations = some<{ set: Record<string, string>; add: Record<string, string>; remove: string[] }>(
  {
    set: fc.dictionary(fc.constantFrom(...CHANGEABLE_HEADERS), headerValue, { maxKeys: 2 }),
    add: fc.dictionary(fc.constantFrom(...CHANGEABLE_HEADERS), headerValue, { maxKeys: 2 }),
    remove: fc.subarray(CHANGEABLE_HEADERS, { minLength: 1, maxLength: 2 }),
  },
);

const rewrite = fc.oneof(
  fc.record({ uriPrefix: fc.constantFrom("/", "/v2") }),
  fc.record({ authority: fc.constantFrom(...AUTHORITIES) }),
  fc.record({ uriPrefix: fc.constantFrom("/", "/v2"), authority: fc.constantFrom(...AUTHORITIES) }),
);

function forwardingRule(subsetNames: readonly string[]): fc.Arbitrary<HTTPRule> {
  const percent = fc.constantFrom(...PERCENTS);
  const mirror =
    subsetNames.length > 0
      ? some<{ subset: string; percent: number }>({ subset: fc.constantFrom(...subsetNames), percent })
      : some<{ percent: number }>({ percent });
  return fc.record(
    {
      match: fc.array(httpMatch, { maxLength: 2 }),
      route: route(subsetNames),
      timeout: fc.constantFrom(...ENVOY_TIMERS),
      retries,
      fault,
      mirror,
      headers: some({ request: headerOperations, response: headerOperations }),
      rewrite,
    },
    { requiredKeys: ["route"] },
  ) as fc.Arbitrary<HTTPRule>;
}

/** A redirect needs uri, authority, port or scheme; authority carries no port when port is set. */
const redirect: fc.Arbitrary<HTTPRedirect> = some<HTTPRedirect>({
  uri: fc.constantFrom("/moved", "/v2/items?x=1"),
  authority: fc.constantFrom(...AUTHORITIES),
  port: fc.constantFrom(80, 8443),
  scheme: fc.constantFrom("http" as const, "https" as const),
  redirectCode: fc.constantFrom(...REDIRECT_CODES),
})
  .filter(
    (r) => r.uri !== undefined || r.authority !== undefined || r.port !== undefined || r.scheme !== undefined,
  )
  .map((r) =>
    r.port !== undefined && r.authority !== undefined && /:[0-9]+$/.test(r.authority)
      ? { ...r, authority: r.authority.replace(/:[0-9]+$/, "") }
      : r,
  );

/** A redirect rule carries neither route, fault, rewrite, mirror, retries, timeout nor request headers. */
const redirectRule: fc.Arbitrary<HTTPRule> = fc.record(
  {
    match: fc.array(httpMatch, { maxLength: 2 }),
    redirect,
    headers: fc.record({ response: headerOperations }),
  },
  { requiredKeys: ["redirect"] },
) as fc.Arbitrary<HTTPRule>;

/** Up to three rules; some named, names unique. */
function httpRules(subsetNames: readonly string[]): fc.Arbitrary<HTTPRule[]> {
  return fc
    .array(
      fc.tuple(
        fc.oneof(
          { weight: 3, arbitrary: forwardingRule(subsetNames) },
          { weight: 1, arbitrary: redirectRule },
        ),
        fc.boolean(),
      ),
      { maxLength: 3 },
    )
    .map((rules) => rules.map(([rule, named], i) => (named ? { name: RULE_NAMES[i]!, ...rule } : rule)));
}

const loadBalancer: fc.Arbitrary<LoadBalancer> = fc.oneof(
  fc.constant({}),
  fc.constantFrom("RoundRobin", "LeastRequest", "Random").map((algorithm) => ({ algorithm })),
  fc.record({
    algorithm: fc.constantFrom("RingHash" as const, "Maglev" as const),
    hash: oneKey<NonNullable<LoadBalancer["hash"]>>({
      header: fc.constantFrom("x-user", ":authority"),
      cookie: fc.record(
        {
          name: fc.constantFrom("session", "lb"),
          ttl: fc.constantFrom(...COOKIE_TTLS),
          path: fc.constant("/"),
        },
        { requiredKeys: ["name"] },
      ),
      sourceIP: fc.constant(true),
      queryParam: fc.constantFrom("id", "user"),
    }),
  }),
) as fc.Arbitrary<LoadBalancer>;

const count = fc.integer({ min: 0, max: 2147483647 });

const connectionPool: fc.Arbitrary<ConnectionPool> = some<ConnectionPool>({
  tcp: some({
    maxConnections: fc.integer({ min: 1, max: 2147483647 }),
    connectTimeout: fc.constantFrom(...ENVOY_TIMERS),
  }),
  http: some({
    maxPendingRequests: count,
    maxRequests: count,
    maxRequestsPerConnection: count,
    maxRetries: count,
    idleTimeout: fc.constantFrom(...ENVOY_TIMERS),
  }),
});

const outlierDetection: fc.Arbitrary<OutlierDetection> = some<OutlierDetection>({
  consecutive5xxErrors: fc.integer({ min: 0, max: 10 }),
  consecutiveGatewayErrors: fc.integer({ min: 0, max: 10 }),
  interval: fc.constantFrom(...ENVOY_TIMERS),
  baseEjectionTime: fc.constantFrom(...ENVOY_TIMERS),
  maxEjectionPercent: fc.constantFrom(...PERCENTS),
});

const rateLimit = fc.record({
  local: fc.record(
    {
      maxTokens: fc.integer({ min: 1, max: 1000 }),
      tokensPerFill: fc.integer({ min: 1, max: 1000 }),
      fillInterval: fc.constantFrom(...FILL_INTERVALS),
      statusCode: fc.integer({ min: 400, max: 599 }),
    },
    { requiredKeys: ["maxTokens", "tokensPerFill", "fillInterval"] },
  ),
});

/** A TrafficPolicy spec whose target is one of `targets`. */
export function trafficPolicySpec(
  targets: readonly string[],
  pools: PolicyPools,
): fc.Arbitrary<TrafficPolicySpec> {
  const subsets: fc.Arbitrary<Subset[]> = fc.uniqueArray(
    fc.record({ name: fc.constantFrom(...SUBSET_NAMES), labels: fc.constantFrom(...pools.labelSets) }),
    { selector: (s) => s.name, maxLength: 3 },
  ) as fc.Arbitrary<Subset[]>;
  return subsets.chain((chosen) => {
    const names = chosen.map((s) => s.name);
    return fc
      .record(
        {
          targetRef: fc.oneof(
            fc.record({ name: fc.constantFrom(...targets) }),
            fc.record({
              group: fc.constant("" as const),
              kind: fc.constant("Service" as const),
              name: fc.constantFrom(...targets),
            }),
          ),
          http: httpRules(names),
          tcp: fc.array(some({ route: route(names) }), { minLength: 1, maxLength: 2 }),
          loadBalancer,
          connectionPool,
          outlierDetection,
          rateLimit,
        },
        { requiredKeys: ["targetRef"] },
      )
      .map((spec) => (chosen.length > 0 ? { ...spec, subsets: chosen } : spec) as TrafficPolicySpec);
  });
}

// --- PeerAuthentication --------------------------------------------------------

const mtls = some({ mode: fc.constantFrom(...MTLS_MODES) });

export function peerAuthenticationSpec(pools: PolicyPools): fc.Arbitrary<PeerAuthenticationSpec> {
  const selector = fc.record({ matchLabels: fc.constantFrom(...pools.labelSets) });
  return fc.oneof(
    some({ mtls }),
    fc.record(
      {
        selector,
        mtls,
        portLevelMtls: fc.dictionary(fc.constantFrom(...pools.ports.map(String)), mtls, {
          minKeys: 1,
          maxKeys: 2,
        }),
      },
      { requiredKeys: ["selector"] },
    ),
  ) as fc.Arbitrary<PeerAuthenticationSpec>;
}

// --- AuthorizationPolicy -------------------------------------------------------

/** Values in the AuthorizationPolicy syntax: exact, `prefix*`, `*suffix` or `*`. */
const values = (pool: readonly string[]) =>
  fc.subarray([...pool], { minLength: 1, maxLength: Math.min(3, pool.length) });

export function authorizationPolicySpec(pools: PolicyPools): fc.Arbitrary<AuthorizationPolicySpec> {
  const principals = [
    ...pools.namespaces.flatMap((ns) => pools.serviceAccounts.map((sa) => `cluster.local/ns/${ns}/sa/${sa}`)),
    ...pools.namespaces.map((ns) => `cluster.local/ns/${ns}/*`),
    "*",
  ];
  const namespaces = [...pools.namespaces, "*", `${pools.namespaces[0]!.slice(0, 2)}*`];
  const cidrs = ["10.0.0.0/8", "10.1.0.1", "192.168.0.0/16", "2001:db8::/32"];
  const ports = pools.ports.map(String);
  const source: fc.Arbitrary<Source> = some<Source>({
    principals: values(principals),
    notPrincipals: values(principals),
    namespaces: values(namespaces),
    notNamespaces: values(namespaces),
    ipBlocks: values(cidrs),
    notIpBlocks: values(cidrs),
  }).filter((s) => Object.keys(s).length > 0);
  const operation: fc.Arbitrary<Operation> = some<Operation>({
    hosts: values(["api", "api.*", "*.svc.cluster.local", "*"]),
    notHosts: values(["web", "*:8080"]),
    ports: values(ports),
    notPorts: values(ports),
    methods: values(["GET", "POST", "G*", "*"]),
    notMethods: values(["DELETE"]),
    paths: values(["/api/*", "/healthz", "*.json", "*"]),
    notPaths: values(["/admin*"]),
  }).filter((o) => Object.keys(o).length > 0);
  const valued = (pool: readonly string[]) =>
    fc.oneof(
      fc.record({ values: values(pool) }),
      fc.record({ notValues: values(pool) }),
      fc.record({ values: values(pool), notValues: values(pool) }),
    );
  const condition: fc.Arbitrary<RuleCondition> = fc.oneof(
    valued(["v1", "v2*", "*"]).map((v) => ({ key: "request.headers[x-version]", ...v })),
    fc
      .constantFrom("source.ip", "remote.ip", "destination.ip")
      .chain((key) => valued(cidrs).map((v) => ({ key, ...v }))),
    valued(namespaces).map((v) => ({ key: "source.namespace", ...v })),
    valued(principals).map((v) => ({ key: "source.principal", ...v })),
    valued(ports).map((v) => ({ key: "destination.port", ...v })),
    valued(["outbound_*", "*.svc.cluster.local"]).map((v) => ({ key: "connection.sni", ...v })),
  );
  const rule: fc.Arbitrary<Rule> = some<Rule>({
    from: fc.array(fc.record({ source }), { minLength: 1, maxLength: 2 }),
    to: fc.array(fc.record({ operation }), { minLength: 1, maxLength: 2 }),
    when: fc.array(condition, { minLength: 1, maxLength: 2 }),
  });
  return some<AuthorizationPolicySpec>({
    selector: fc.record({ matchLabels: fc.constantFrom(...pools.labelSets) }),
    action: fc.constantFrom("ALLOW" as const, "DENY" as const, "AUDIT" as const),
    rules: fc.array(rule, { maxLength: 3 }),
  });
}

// --- Objects -------------------------------------------------------------------

/** Two creation times, so that policies of one kind and level tie and conflict (the oldest wins). */
const CREATED = ["2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"];

const metadata = (namespace: string, name: string) =>
  fc
    .constantFrom(...CREATED)
    .map((creationTimestamp) => ({ name, namespace, generation: 1, creationTimestamp }));

/** The policies of one namespace. */
export interface NamespacePolicies {
  readonly trafficPolicies: TrafficPolicy[];
  readonly peerAuthentications: PeerAuthentication[];
  readonly authorizationPolicies: AuthorizationPolicy[];
}

/**
 * Up to `max` policies of each kind in `namespace`, named `tp-<i>`, `pa-<i>`,
 * `ap-<i>` (unique per kind and namespace). TrafficPolicies target `targets`.
 */
export function policiesIn(
  namespace: string,
  targets: readonly string[],
  pools: PolicyPools,
  max: { trafficPolicies: number; peerAuthentications: number; authorizationPolicies: number },
): fc.Arbitrary<NamespacePolicies> {
  const objects = <T>(
    n: number,
    prefix: string,
    make: (name: string) => fc.Arbitrary<T>,
  ): fc.Arbitrary<T[]> =>
    fc
      .integer({ min: 0, max: n })
      .chain((k) =>
        fc.tuple(...Array.from({ length: k }, (_, i) => make(`${prefix}-${i}`))).map((list): T[] => list),
      );
  return fc.record({
    trafficPolicies:
      targets.length === 0
        ? fc.constant<TrafficPolicy[]>([])
        : objects(max.trafficPolicies, "tp", (name) =>
            fc.record({
              apiVersion: fc.constant("skiff.dev/v1alpha1" as const),
              kind: fc.constant("TrafficPolicy" as const),
              metadata: metadata(namespace, name),
              spec: trafficPolicySpec(targets, pools),
            }),
          ),
    peerAuthentications: objects(max.peerAuthentications, "pa", (name) =>
      fc.record({
        apiVersion: fc.constant("skiff.dev/v1alpha1" as const),
        kind: fc.constant("PeerAuthentication" as const),
        metadata: metadata(namespace, name),
        spec: peerAuthenticationSpec(pools),
      }),
    ),
    authorizationPolicies: objects(max.authorizationPolicies, "ap", (name) =>
      fc
        .record({
          apiVersion: fc.constant("skiff.dev/v1alpha1" as const),
          kind: fc.constant("AuthorizationPolicy" as const),
          metadata: metadata(namespace, name),
          spec: fc.option(authorizationPolicySpec(pools), { nil: undefined, freq: 8 }),
        })
        .map(({ spec, ...rest }): AuthorizationPolicy => (spec === undefined ? rest : { ...rest, spec })),
    ),
  });
}
