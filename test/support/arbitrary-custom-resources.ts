import fc from "fast-check";

/**
 * fast-check generators of TrafficPolicy, PeerAuthentication,
 * AuthorizationPolicy and Mesh specs that are NOT valid by construction: the
 * shapes are right (so that most objects get past the schema's structure),
 * but each value comes from a pool that mixes what people write with what
 * sits at or past an edge (empty strings, limits and one past them, CR/LF,
 * pseudo-headers, regexes that RE2 or Envoy refuse, percent signs, ports
 * outside 1..65535...). The API server and the webhook decide what is
 * admitted; whatever is admitted must then work in Envoy. Unlike
 * arbitrary-policies.ts (valid objects only, for properties about what
 * policies mean), a value here is meant to find admission gaps.
 *
 * Names come from the cluster that the search builds (test/support/
 * policy-search-cluster.ts), so that policies meet real Services and Pods.
 */

type Json = Record<string, unknown>;

/** An object with some of these keys (none required). */
const some = (fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<Json> =>
  fc.record(fields, { requiredKeys: [] });

const oneKey = (options: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<Json> =>
  fc.oneof(...Object.entries(options).map(([k, a]) => a.map((v) => ({ [k]: v }))));

/**
 * How often a value is edgy. An object has dozens of values, so with one
 * rate for all nearly every object would hold some bad value and be
 * refused: the search would then test admission only. Each object is
 * instead plain (no edgy value: it should be admitted, and exercise the
 * translator) or edgy (about one value in eight).
 */
export type Edginess = "plain" | "edgy";

/** The generators, for one edginess. */
function generators(edginess: Edginess) {
  /** Usually a plausible value, sometimes (when edgy) an edgy one. */
  const usually = <T>(plausible: readonly T[], edgy: readonly T[]): fc.Arbitrary<T> =>
    edginess === "plain"
      ? fc.constantFrom(...plausible)
      : fc.oneof(
          { weight: 7, arbitrary: fc.constantFrom(...plausible) },
          { weight: 1, arbitrary: fc.constantFrom(...edgy) },
        );
  /** A list of one to `max` items; when edgy, sometimes empty. */
  const list = <T>(item: fc.Arbitrary<T>, max = 2) =>
    fc.array(item, { minLength: edginess === "plain" ? 1 : 0, maxLength: max });
  /** A shape the schema takes; when edgy, sometimes one that it may not. */
  const shaped = <T>(valid: fc.Arbitrary<T>, loose: fc.Arbitrary<T>): fc.Arbitrary<T> =>
    edginess === "plain" ? valid : fc.oneof({ weight: 3, arbitrary: valid }, { weight: 1, arbitrary: loose });
  /** Only what an edgy object may hold. */
  const edgyOnly = <T>(values: readonly T[]): readonly T[] => (edginess === "edgy" ? values : []);

  // --- Value pools ---------------------------------------------------------------

  const DURATIONS = usually(
    ["1ms", "250ms", "1s", "2.5s", "90s", "1m", "1h30m", "8760h"],
    ["0s", "1ns", "999us", "49ms", "8760h1ns", "87600h", "100000000h", "1h1h", ".5s", "-1s", "1e3s", ""],
  );
  const PERCENTS = usually([0, 0.5, 10, 50, 99.9, 100], [0.0001, 33.333333333, 100.5, -1]);
  const COUNTS = usually([1, 10, 1000, 2147483647], [0, 2147483648, -1]);
  const PORTS = usually([80, 443, 8443, 9080], [0, 1, 65535, 65536]);
  const STATUS = usually([404, 429, 503], [100, 199, 200, 600, 0]);

  /** RE2 and non-RE2 patterns; Envoy also refuses an RE2 program that is too large. */
  const REGEXES = usually(
    [".*", "/api/.*", "[a-z]+", "/v[0-9]+/(users|items)", "\\d+"],
    [
      "",
      "(",
      "a{2,300}",
      "(a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p|q|r|s|t|u|v|w|x|y|z){5,20}",
      "x{1001}",
      "(?i)abc",
      "\\C",
      "(?=a)",
      "\\p{Greek}+",
      "[[:alpha:]]",
      "a\nb",
    ],
  );
  const MATCH_HEADER_NAMES = usually(
    ["x-user", "x-version", ":authority", "user-agent"],
    ["", ":path", ":method", "host", "X-Upper", "x y", "x:y", "content-length", ":unknown", "x\u00e9"],
  );
  const CHANGEABLE_HEADER_NAMES = usually(
    ["x-team", "x-env", "X-Trace-Id", "x-b3-flags"],
    [
      ":path",
      ":authority",
      "host",
      "Host",
      "x y",
      "x\r\ny",
      "",
      "content-length",
      "te",
      "connection",
      "transfer-encoding",
      "upgrade",
      "keep-alive",
      "x-envoy-original-path",
      "x\u00e9",
      ":status",
    ],
  );
  const HEADER_VALUES = usually(
    ["", "v1", "100%", "%HOSTNAME%", "a b"],
    [
      "%",
      "%%",
      "%DYNAMIC_METADATA(x)%",
      "%START_TIME(%s)%",
      "\t",
      " leading",
      "trailing ",
      "a\r\nb",
      "a\0b",
      "\u00e9",
      "\u{1F600}",
      "x".repeat(5000),
      "\u007f",
    ],
  );
  const PATHS = usually(
    ["/", "/api", "/api/v1", "/healthz"],
    ["", "api", "/a b", "/%zz", "/q?x=1", "/#f", "//", "/\u00e9"],
  );
  const URI_PREFIXES = usually(["/", "/v2"], ["", "v2", "/a b", "/%", "/\u00e9", "//"]);
  const AUTHORITIES = usually(
    ["example.com", "api.example.com:8443", "10.0.0.1", "[2001:db8::1]"],
    ["", "a:99999", "a:0", "a b", "h\u00e9llo", "[::1]:80", "-bad-", "a..b", "x:", ":80", "a".repeat(254)],
  );
  const METHODS = usually(["GET", "POST", "DELETE"], ["", "get", "G ET", "CONNECT", "X".repeat(33)]);
  const LITERALS = usually(["tester", "v2", "x", "1"], ["", " ", "\u00e9", "a\r\nb", "%", "\0"]);
  const DNS_NAMES = usually(["v1", "v2", "canary", "api"], ["", "V1", "-a", "a".repeat(64), "a.b", "a_b"]);
  const LABEL_KEYS = usually(
    ["app", "version", "team"],
    ["", "a/b/c", "-x", "x".repeat(64), "example.com/x", "k y"],
  );
  const LABEL_VALUES = usually(
    ["reviews", "ratings", "v1", "v2", "v3", "a"],
    ["", "-x", "x".repeat(64), "a b", "a/b"],
  );

  const labels = fc.dictionary(LABEL_KEYS, LABEL_VALUES, {
    minKeys: edginess === "plain" ? 1 : 0,
    maxKeys: 2,
  });

  // --- TrafficPolicy -------------------------------------------------------------

  const stringMatch = (literal: fc.Arbitrary<string>) =>
    shaped(
      oneKey({ exact: literal, prefix: literal, regex: REGEXES }),
      some({ exact: literal, prefix: literal, regex: REGEXES }),
    );

  const httpMatch = some({
    path: stringMatch(PATHS),
    method: METHODS,
    headers: list(
      fc
        .tuple(
          MATCH_HEADER_NAMES,
          fc.oneof(
            stringMatch(LITERALS),
            fc.boolean().map((present) => ({ present })),
          ),
        )
        .chain(([name, match]) =>
          fc.option(fc.boolean(), { nil: undefined }).map((invert) => ({
            name,
            ...match,
            ...(invert === undefined ? {} : { invert }),
          })),
        ),
    ),
    queryParams: list(
      fc
        .tuple(
          usually(["debug", "id"], ["", "a b", "&", "="]),
          fc.oneof(stringMatch(LITERALS), fc.constant({ present: true })),
        )
        .map(([name, match]) => ({ name, ...match })),
    ),
  });

  /** One to three destinations whose weights usually sum to 100. */
  const route = (subsets: readonly string[]) => {
    const targets = [undefined, ...subsets, ...edgyOnly(["nosuch"])];
    return fc.subarray(targets, { minLength: 1, maxLength: Math.min(3, targets.length) }).chain((chosen) =>
      fc
        .oneof(
          fc.constant(chosen.length === 1 ? [undefined] : [100, ...chosen.slice(1).map(() => 0)]),
          fc
            .array(fc.integer({ min: 0, max: 100 }), {
              minLength: chosen.length - 1,
              maxLength: chosen.length - 1,
            })
            .map((cuts) => {
              const bounds = [0, ...cuts.sort((a, b) => a - b), 100];
              return chosen.map((_, i) => bounds[i + 1]! - bounds[i]!);
            }),
          ...(edginess === "edgy"
            ? [
                fc.array(fc.integer({ min: -1, max: 101 }), {
                  minLength: chosen.length,
                  maxLength: chosen.length,
                }),
              ]
            : []),
        )
        .map((weights) =>
          chosen.map((subset, i) => ({
            ...(subset === undefined ? {} : { subset }),
            ...(weights[i] === undefined ? {} : { weight: weights[i] }),
          })),
        ),
    );
  };

  const retries = some({
    attempts: usually([0, 1, 3], [-1, 11, 2147483647]),
    perTryTimeout: DURATIONS,
    retryOn: fc.subarray(
      [
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
      ],
      { minLength: 0, maxLength: 4 },
    ),
  });

  const delay = fc.record({ fixedDelay: DURATIONS, percent: PERCENTS }, { requiredKeys: ["fixedDelay"] });
  const abort = fc
    .tuple(
      oneKey({ httpStatus: STATUS, grpcStatus: usually(["CANCELLED", "UNAVAILABLE", "DATA_LOSS"], ["OK"]) }),
      fc.option(PERCENTS, { nil: undefined }),
    )
    .map(([status, percent]) => (percent === undefined ? status : { ...status, percent }));
  const fault = shaped(
    fc.oneof(fc.record({ delay }), fc.record({ abort }), fc.record({ delay, abort })),
    some({
      delay: some({ fixedDelay: DURATIONS, percent: PERCENTS }),
      abort: some({ httpStatus: STATUS, grpcStatus: fc.constant("UNAVAILABLE"), percent: PERCENTS }),
    }),
  );

  const headerOperations = some({
    set: fc.dictionary(CHANGEABLE_HEADER_NAMES, HEADER_VALUES, { maxKeys: 2 }),
    add: fc.dictionary(CHANGEABLE_HEADER_NAMES, HEADER_VALUES, { maxKeys: 2 }),
    remove: shaped(fc.uniqueArray(CHANGEABLE_HEADER_NAMES, { maxLength: 2 }), list(CHANGEABLE_HEADER_NAMES)),
  });

  const anyRedirect = some({
    uri: PATHS,
    authority: AUTHORITIES,
    port: PORTS,
    scheme: usually(["http", "https"], ["ftp", ""]),
    redirectCode: usually([301, 302, 303, 307, 308], [300, 304]),
  });
  /** A redirect needs uri, authority, port or scheme; authority carries no port when port is set. */
  const redirect = shaped(
    anyRedirect
      .filter((r) => ["uri", "authority", "port", "scheme"].some((k) => k in r))
      .map((r) =>
        r.port !== undefined && typeof r.authority === "string"
          ? { ...r, authority: r.authority.replace(/:[0-9]+$/, "") }
          : r,
      ),
    anyRedirect,
  );
  const rewrite = shaped(
    oneKey({ uriPrefix: URI_PREFIXES, authority: AUTHORITIES }),
    some({ uriPrefix: URI_PREFIXES, authority: AUTHORITIES }),
  );
  /** Rule names, unique when plain. */
  const named = (rules: Json[]): Json[] =>
    edginess === "edgy"
      ? rules
      : rules.map((r, i) => (typeof r.name === "string" ? { ...r, name: `${r.name}-${i}` } : r));

  const httpRule = (subsets: readonly string[]) =>
    fc.oneof(
      {
        weight: 4,
        arbitrary: fc.record(
          {
            name: DNS_NAMES,
            match: list(httpMatch),
            route: route(subsets),
            timeout: DURATIONS,
            retries,
            fault,
            mirror: some({
              ...(subsets.length + edgyOnly(["nosuch"]).length > 0
                ? { subset: fc.constantFrom(...subsets, ...edgyOnly(["nosuch"])) }
                : {}),
              percent: PERCENTS,
            }),
            headers: some({ request: headerOperations, response: headerOperations }),
            rewrite,
          },
          { requiredKeys: edginess === "plain" ? ["route"] : [] },
        ),
      },
      {
        weight: 1,
        arbitrary: fc.record(
          {
            name: DNS_NAMES,
            match: list(httpMatch),
            redirect,
            headers: some({ response: headerOperations }),
          },
          { requiredKeys: edginess === "plain" ? ["redirect"] : [] },
        ),
      },
    );

  const hash = oneKey({
    header: usually(["x-user", ":authority"], ["", "X Y", ":path", "x\u00e9"]),
    cookie: some({
      name: usually(["session", "lb"], ["", "a b", "a;b", "a=b"]),
      ttl: usually(["0s", "30s", "1h"], ["87600h", "87600h1ns", "-1s"]),
      path: usually(["/"], ["", "a b", "/\u00e9"]),
    }),
    sourceIP: fc.boolean(),
    queryParam: usually(["id", "user"], ["", "a b"]),
  });

  const loadBalancer = shaped(
    fc.oneof(
      fc.record({ algorithm: fc.constantFrom("RoundRobin", "LeastRequest", "Random") }, { requiredKeys: [] }),
      fc.record({ algorithm: fc.constantFrom("RingHash", "Maglev"), hash }),
    ),
    some({
      algorithm: usually(["RoundRobin", "LeastRequest", "Random", "RingHash", "Maglev"], ["", "Other"]),
      hash,
    }),
  );

  const connectionPool = some({
    tcp: some({ maxConnections: COUNTS, connectTimeout: DURATIONS }),
    http: some({
      maxPendingRequests: COUNTS,
      maxRequests: COUNTS,
      maxRequestsPerConnection: COUNTS,
      maxRetries: COUNTS,
      idleTimeout: DURATIONS,
    }),
  });

  const outlierDetection = some({
    consecutive5xxErrors: COUNTS,
    consecutiveGatewayErrors: COUNTS,
    interval: DURATIONS,
    baseEjectionTime: DURATIONS,
    maxEjectionPercent: PERCENTS,
  });

  const rateLimit = some({
    local: fc.record(
      { maxTokens: COUNTS, tokensPerFill: COUNTS, fillInterval: DURATIONS, statusCode: STATUS },
      { requiredKeys: edginess === "plain" ? ["maxTokens", "tokensPerFill", "fillInterval"] : [] },
    ),
  });

  /** A TrafficPolicy spec aimed at one of `services` (or at a name that resolves to nothing). */
  function looseTrafficPolicySpec(services: readonly string[]): fc.Arbitrary<Json> {
    return fc
      .uniqueArray(DNS_NAMES, { maxLength: 3 })
      .chain((subsetNames) =>
        some({
          subsets: fc.tuple(...subsetNames.map((name) => labels.map((l) => ({ name, labels: l })))),
          http: list(httpRule(subsetNames), 3).map(named),
          tcp: list(some({ route: route(subsetNames) })),
          loadBalancer,
          connectionPool,
          outlierDetection,
          rateLimit,
        }),
      )
      .chain((spec) =>
        fc
          .oneof(
            fc.record({ name: usually(services, ["nosuch", "", "Reviews"]) }),
            fc.record({
              group: fc.constant(""),
              kind: usually(["Service"], ["Pod"]),
              name: fc.constantFrom(...services),
            }),
          )
          .map((targetRef) => ({ targetRef, ...spec })),
      );
  }

  // --- PeerAuthentication --------------------------------------------------------

  const MTLS_MODES = usually(["UNSET", "DISABLE", "PERMISSIVE", "STRICT"], ["", "strict"]);

  function loosePeerAuthenticationSpec(ports: readonly number[]): fc.Arbitrary<Json> {
    const portLevelMtls = fc.dictionary(
      usually(ports.map(String), ["0", "65536", "http", "-1", "080"]),
      some({ mode: MTLS_MODES }),
      { minKeys: 1, maxKeys: 2 },
    );
    const selector = fc.record({ matchLabels: labels });
    return shaped(
      fc.oneof(some({ selector, mtls: some({ mode: MTLS_MODES }) }), fc.record({ selector, portLevelMtls })),
      some({ selector, mtls: some({ mode: MTLS_MODES }), portLevelMtls }),
    );
  }

  // --- AuthorizationPolicy -------------------------------------------------------

  /** Values in the AuthorizationPolicy syntax: exact, `prefix*`, `*suffix` or `*`, plus edges. */
  /** Characters no request can carry in an attribute (control characters, NUL). */
  const UNMATCHABLE = ["a\u0000b", "a\r\nb", "\u007f", "a\tb"];
  /** Values near the schema's length limit, exact, prefix and suffix (RE2 program size). */
  const LONG = ["l".repeat(1024), "p".repeat(1023) + "*", "*" + "s".repeat(1023), "*" + "s".repeat(600)];
  const values = (plausible: readonly string[], edgy: readonly string[]) => list(usually(plausible, edgy), 3);

  function looseAuthorizationPolicySpec(
    namespaces: readonly string[],
    ports: readonly number[],
  ): fc.Arbitrary<Json> {
    const PRINCIPAL_EDGES = [
      ...["", "**", "a*b", "*a*", "spiffe://x/ns/a/sa/b", "\u00e9", "a\nb", "a b"],
      ...UNMATCHABLE,
      ...LONG,
    ];
    const NAMESPACE_EDGES = [
      "",
      "**",
      "a*b",
      "UPPER",
      "\u00e9",
      "*o/sa",
      "a/b",
      "a.b",
      ...UNMATCHABLE,
      ...LONG,
    ];
    const HOST_EDGES = ["", "**", "a*b", "\u00e9", "\u212Aey", "a b", ...UNMATCHABLE, ...LONG];
    const METHOD_EDGES = ["", "get", "G ET", "G\u00c9T", ...UNMATCHABLE, ...LONG];
    const PATH_EDGES = ["", "/a*b", "**", "api", "/\u00e9", "/a b", ...UNMATCHABLE, ...LONG];
    const WHEN_KEYS = [
      "request.headers[x-version]",
      "source.ip",
      "remote.ip",
      "destination.ip",
      "source.namespace",
      "source.principal",
      "destination.port",
      "connection.sni",
      "request.auth.principal",
    ];
    const WHEN_KEY_EDGES = [
      "",
      "request.headers[]",
      "request.headers[X Y]",
      "request.headers[:path]",
      "unknown.key",
      "request.headers[x",
      "request.headers[x\ny]",
      "request.headers[x\u0000y]",
      "request.headers[x\u00e9]",
      "request.headers[host]",
      "request.headers[:authority]",
      "request.headers[:method]",
      "request.headers[:scheme]",
      "request.headers[:status]",
      "request.headers[\u212A]",
    ];
    const WHEN_VALUE_EDGES = [
      ...["", "300.0.0.0/8", "x*y", "65536", "http", "0", "10.0.0.1/8", "a/b", "*o/sa", "\u212Aey"],
      ...UNMATCHABLE,
      ...LONG,
    ];
    const principals = values(
      [
        ...namespaces.map((ns) => `cluster.local/ns/${ns}/sa/reviews`),
        `cluster.local/ns/${namespaces[0]}/*`,
        "*",
      ],
      PRINCIPAL_EDGES,
    );
    const nss = values([...namespaces, "*", "bo*"], NAMESPACE_EDGES);
    const cidrs = values(
      ["10.0.0.0/8", "10.1.0.1", "192.168.0.0/16", "2001:db8::/32"],
      ["", "10.0.0.0/33", "300.1.1.1", "10.0.0.1/8", "::/0", "x", "10.0.0.0/-1"],
    );
    const portValues = values(ports.map(String), ["", "0", "65536", "*", "80-90", "http", "-1"]);
    const source = some({
      principals,
      notPrincipals: principals,
      namespaces: nss,
      notNamespaces: nss,
      ipBlocks: cidrs,
      notIpBlocks: cidrs,
    });
    const operation = some({
      hosts: values(["api", "api.*", "*.svc.cluster.local", "*"], HOST_EDGES),
      notHosts: values(["web", "*:8080"], [""]),
      ports: portValues,
      notPorts: portValues,
      methods: values(["GET", "POST", "G*", "*"], METHOD_EDGES),
      notMethods: values(["DELETE"], [""]),
      paths: values(["/api/*", "/healthz", "*.json", "*"], PATH_EDGES),
      notPaths: values(["/admin*"], [""]),
    });
    const condition = fc
      .tuple(
        usually(WHEN_KEYS, WHEN_KEY_EDGES),
        values(["v1", "v2*", "*", "10.0.0.0/8", "9080", "bookinfo", "outbound_*"], WHEN_VALUE_EDGES),
        fc.option(values(["v1", "10.1.0.1"], ["", "abc"]), { nil: undefined }),
      )
      .map(([key, v, notValues]) => ({ key, values: v, ...(notValues ? { notValues } : {}) }));
    const rule = some({
      from: list(fc.record({ source })),
      to: list(fc.record({ operation })),
      when: list(condition),
    });
    const spec = some({
      selector: fc.record({ matchLabels: labels }),
      action: usually(["ALLOW", "DENY", "AUDIT"], ["", "CUSTOM", "allow"]),
      rules: list(rule, 3),
    });
    if (edginess === "plain") return spec;
    /**
     * A rule with one edgy value and nothing else besides, so that admission
     * can refuse it for that value only: an edgy spec above holds several,
     * and one that admission refuses hides the others from the search.
     */
    const one = (edges: readonly string[], place: (v: string) => Json) =>
      fc.constantFrom(...edges).map(place);
    const source1 = (field: string) => (v: string) => ({ from: [{ source: { [field]: [v] } }] });
    const operation1 = (field: string) => (v: string) => ({ to: [{ operation: { [field]: [v] } }] });
    const oneEdgeRule = fc.oneof(
      one(PRINCIPAL_EDGES, source1("principals")),
      one(NAMESPACE_EDGES, source1("notNamespaces")),
      one(HOST_EDGES, operation1("hosts")),
      one(METHOD_EDGES, operation1("notMethods")),
      one(PATH_EDGES, operation1("paths")),
      one(WHEN_KEY_EDGES, (key) => ({ when: [{ key, values: ["v1"] }] })),
      fc
        .tuple(fc.constantFrom(...WHEN_KEYS), fc.constantFrom(...WHEN_VALUE_EDGES))
        .map(([key, v]) => ({ when: [{ key, notValues: [v] }] })),
    );
    return fc.oneof(
      spec,
      fc.record({ action: fc.constantFrom("ALLOW", "DENY"), rules: oneEdgeRule.map((r) => [r]) }),
    );
  }

  // --- Mesh ----------------------------------------------------------------------

  /**
   * A Mesh spec, for what it changes in the sidecars: the trust domain (in
   * SANs and principals), the root namespace, the default mTLS mode, the
   * injection selector (which decides who has a sidecar) and the bootstrap
   * settings (metrics port, OTLP endpoint, proxy log level and memory).
   */
  function looseMeshSpec(namespaceLabels: Readonly<Record<string, string>>): fc.Arbitrary<Json> {
    const [[key, value]] = Object.entries(namespaceLabels) as [[string, string]];
    // Quantities the CRD's pattern (or int-or-string) takes; the edgy ones are not a sidecar's.
    const memory = usually<string | number>(
      ["64Mi", "256Mi", "1Gi", 1073741824],
      ["0", "1", "512", "1Ei", "8Pi", "0.5", "1500m", "-1Gi", "1e1.5", "9007199254740992", "33554431", -5],
    );
    const cpu = usually<string | number>(
      ["100m", "500m", "1", 2],
      ["0", "0.1m", "-1", "1e1.5", "1E", "1e-3"],
    );
    const resourceList = fc
      .tuple(
        some({ memory, cpu }),
        usually<Json>(
          [{}],
          [{ "nvidia.com/gpu": "1" }, { "hugepages-2Mi": "2Mi" }, { "ephemeral-storage": "0" }],
        ),
      )
      .map(([known, other]) => ({ ...known, ...other }));
    return some({
      trustDomain: usually(
        ["cluster.local", "example.org", "td-1"],
        ["", "a..b", "UPPER", "a_b", "x".repeat(254), "-a"],
      ),
      rootNamespace: usually(["skiff-system", "mesh-root"], ["", "a".repeat(64), "A"]),
      defaults: some({ mtlsMode: usually(["DISABLE", "PERMISSIVE", "STRICT"], ["UNSET", ""]) }),
      injection: some({
        namespaceSelector: usually<Json>(
          [{ matchLabels: { [key]: value } }, { matchExpressions: [{ key, operator: "Exists" }] }, {}],
          [{ matchExpressions: [{ key, operator: "In", values: [] }] }, { matchLabels: { "bad key!": "x" } }],
        ),
        proxy: some({
          logLevel: usually(["info", "warning", "debug"], ["", "verbose"]),
          concurrency: usually([0, 1, 2], [-1, 65]),
          resources: some({ limits: resourceList, requests: resourceList }),
        }),
      }),
      observability: some({
        accessLog: some({ enabled: fc.boolean(), format: usually(["JSON", "TEXT"], [""]) }),
        tracing: some({
          otlpEndpoint: usually(
            ["otel-collector.observability:4317", "10.0.0.5:4317", ""],
            ["a:0", "a:65536", "a", "[::1]:4317", "a b:1"],
          ),
          samplingPercent: PERCENTS,
        }),
        metrics: some({
          prometheusPort: usually([15090, 9090], [0, 15000, 15001, 15006, 15021, 65535, 65536]),
        }),
      }),
    });
  }

  return { looseTrafficPolicySpec, loosePeerAuthenticationSpec, looseAuthorizationPolicySpec, looseMeshSpec };
}

const PLAIN = generators("plain");
const EDGY = generators("edgy");

/** Plain and edgy objects, half and half. */
const either =
  <A extends unknown[]>(pick: (g: typeof PLAIN) => (...args: A) => fc.Arbitrary<Json>) =>
  (...args: A): fc.Arbitrary<Json> =>
    fc.oneof(pick(PLAIN)(...args), pick(EDGY)(...args));

export const looseTrafficPolicySpec = either((g) => g.looseTrafficPolicySpec);
export const loosePeerAuthenticationSpec = either((g) => g.loosePeerAuthenticationSpec);
export const looseAuthorizationPolicySpec = either((g) => g.looseAuthorizationPolicySpec);
export const looseMeshSpec = either((g) => g.looseMeshSpec);
