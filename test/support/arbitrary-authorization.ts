import fc from "fast-check";
import { parseIpBlock, parsePattern } from "../../src/compile/security.js";
import type {
  AuthorizationPolicyModel,
  AuthorizationRuleModel,
  CidrModel,
  ConditionModel,
  OperationModel,
  PolicyScope,
  SourceModel,
} from "../../src/ir/security.js";
import type { AuthorizationRequest } from "../../src/policy/authorization.js";

/**
 * fast-check generators of authorization policy sets (as the model holds
 * them) and of requests to one workload, for the differential tests that
 * hold the reference evaluator against real RBAC engines (gRPC's and
 * Envoy's). The values come from small pools, so that rules both match and
 * miss; the address and port pools are parameters, because an engine behind
 * real sockets can only see addresses it can really be called from.
 */

export const ROOT_NAMESPACE = "skiff-system";
/** The workload every generated request goes to. */
export const WORKLOAD = { namespace: "bookinfo", labels: { app: "reviews", version: "v1" } };

export const PRINCIPALS = [
  "cluster.local/ns/bookinfo/sa/productpage",
  "cluster.local/ns/bookinfo/sa/reviews",
  "cluster.local/ns/frontend/sa/web",
  "example.org/ns/team-a/sa/api",
  "cluster.local/ns/team-b-prod/sa/x",
];
const PRINCIPAL_PATTERNS = [
  ...PRINCIPALS,
  "cluster.local/ns/bookinfo/*",
  "cluster.local/*",
  "example.*",
  "*/sa/web",
  "*-prod/sa/x",
  "*.local/ns/bookinfo/sa/reviews",
  "*",
];
const NAMESPACE_PATTERNS = ["bookinfo", "frontend", "team-*", "*-prod", "book*", "*info", "team-a", "*"];
const HOST_PATTERNS = ["reviews", "reviews:9080", "Reviews*", "*.SVC", "*:9080", "details.svc", "*"];
const METHOD_PATTERNS = ["GET", "POST", "G*", "*T", "*"];
const PATH_PATTERNS = ["/reviews/*", "/healthz", "*.json", "/admin*", "*"];
const PATHS = ["/reviews/1", "/healthz", "/a.json", "/admin/x", "/", "/reviews/2.json"];
const HEADER_NAMES = ["x-version", "x-user"];
const HEADER_PATTERNS = ["v1", "v2*", "*-beta", "*", "alice"];
const HEADER_VALUES = ["v1", "v2.1", "x-beta", "", "alice", "Alice"];
const SNI_PATTERNS = ["reviews.svc", "*.svc", "outbound_*", "*"];

/** Where requests come from and go to, what they carry, and what policies say about them. */
export interface AddressPools {
  /** CIDRs for ipBlocks, source.ip and remote.ip. */
  readonly cidrs: readonly string[];
  /** CIDRs for destination.ip. */
  readonly destinationCidrs: readonly string[];
  /** Source addresses of requests. */
  readonly sourceIps: readonly string[];
  /** Destination (workload) addresses of requests. */
  readonly destinationIps: readonly string[];
  /** The workload's ports: requests arrive on them, and rules name them. */
  readonly ports: readonly number[];
  /** :authority values requests carry. */
  readonly hosts: readonly string[];
  /** HTTP methods requests use. */
  readonly methods: readonly string[];
  /**
   * Whether `when` conditions name the request's own headers (host,
   * :authority, :method, :path) and paths carry a query string: Envoy's
   * header map has them, gRPC's engine models neither.
   */
  readonly requestPseudoHeaders?: boolean;
}

/** The pools of the in-process differential: any address, as an engine without sockets takes them. */
export const ANY_ADDRESS_POOLS: AddressPools = {
  cidrs: [
    "10.0.0.0/8",
    "10.1.0.0/16",
    "10.1.2.3",
    "10.1.2.99/24",
    "192.168.0.0/16",
    "2001:db8::/32",
    "0.0.0.0/0",
  ],
  destinationCidrs: ["10.1.0.0/16", "10.1.2.10", "10.0.0.0/8", "2001:db8::/64"],
  sourceIps: ["10.1.2.3", "10.2.0.1", "192.168.5.5", "2001:db8::1", "172.16.0.1", "10.1.3.4"],
  destinationIps: ["10.1.2.10", "10.9.9.9", "2001:db8::10"],
  ports: [9080, 8080, 15000],
  hosts: ["reviews", "reviews:9080", "REVIEWS.bookinfo.svc", "details.svc", "ratings.svc:9080", ""],
  methods: ["GET", "POST", "PUT", "DELETE", "get"],
};

const some = <T>(pool: readonly T[]) => fc.subarray([...pool], { minLength: 1, maxLength: 3 });
const patterns = (pool: readonly string[]) => some(pool).map((vs) => vs.map(parsePattern));
const cidrs = (pool: readonly string[]) =>
  some(pool).map((vs) => vs.map((v) => parseIpBlock(v)).filter((c): c is CidrModel => c !== undefined));

/** values and/or notValues, at least one of them, as the schema requires. */
function valued<T>(arb: fc.Arbitrary<T[]>) {
  return fc.oneof(
    fc.record({ values: arb }),
    fc.record({ notValues: arb }),
    fc.record({ values: arb, notValues: arb }),
  );
}

/** Up to four policies (ALLOW, DENY, AUDIT; workload, namespace and mesh level; some in other namespaces). */
export function policiesArb(pools: AddressPools): fc.Arbitrary<AuthorizationPolicyModel[]> {
  const sourceArb: fc.Arbitrary<SourceModel> = fc.record(
    {
      principals: patterns(PRINCIPAL_PATTERNS),
      notPrincipals: patterns(PRINCIPAL_PATTERNS),
      namespaces: patterns(NAMESPACE_PATTERNS),
      notNamespaces: patterns(NAMESPACE_PATTERNS),
      ipBlocks: cidrs(pools.cidrs),
      notIpBlocks: cidrs(pools.cidrs),
    },
    { requiredKeys: [] },
  );
  const operationArb: fc.Arbitrary<OperationModel> = fc.record(
    {
      hosts: patterns(HOST_PATTERNS),
      notHosts: patterns(HOST_PATTERNS),
      ports: some(pools.ports),
      notPorts: some(pools.ports),
      methods: patterns(METHOD_PATTERNS),
      notMethods: patterns(METHOD_PATTERNS),
      paths: patterns(PATH_PATTERNS),
      notPaths: patterns(PATH_PATTERNS),
    },
    { requiredKeys: [] },
  );
  const conditionArb: fc.Arbitrary<ConditionModel> = fc.oneof(
    fc
      .oneof(
        {
          weight: 3,
          arbitrary: fc.tuple(fc.constantFrom(...HEADER_NAMES), valued(patterns(HEADER_PATTERNS))),
        },
        // The headers Envoy holds as the request's own: host is its :authority, :path keeps the query.
        ...(pools.requestPseudoHeaders
          ? [
              fc.tuple(fc.constantFrom("host", ":authority"), valued(patterns([...HOST_PATTERNS, "rev*"]))),
              fc.tuple(fc.constant(":method"), valued(patterns(METHOD_PATTERNS))),
              fc.tuple(fc.constant(":path"), valued(patterns([...PATH_PATTERNS, "/*", "*?debug=1"]))),
            ]
          : []),
      )
      .map(([name, v]): ConditionModel => ({ kind: "RequestHeader", name, ...v })),
    fc
      .tuple(fc.constantFrom("SourceIp" as const, "RemoteIp" as const), valued(cidrs(pools.cidrs)))
      .map(([kind, v]): ConditionModel => ({ kind, ...v })),
    valued(cidrs(pools.destinationCidrs)).map((v): ConditionModel => ({ kind: "DestinationIp", ...v })),
    valued(patterns(PRINCIPAL_PATTERNS)).map((v): ConditionModel => ({ kind: "SourcePrincipal", ...v })),
    valued(patterns(NAMESPACE_PATTERNS)).map((v): ConditionModel => ({ kind: "SourceNamespace", ...v })),
    valued(patterns(SNI_PATTERNS)).map((v): ConditionModel => ({ kind: "ConnectionSni", ...v })),
    valued(some(pools.ports)).map((v): ConditionModel => ({ kind: "DestinationPort", ...v })),
  );
  const ruleArb = fc.record({
    from: fc.array(sourceArb, { maxLength: 2 }),
    to: fc.array(operationArb, { maxLength: 2 }),
    when: fc.array(conditionArb, { maxLength: 2 }),
  });
  const scopeArb: fc.Arbitrary<PolicyScope> = fc.oneof(
    fc.constant({ kind: "Namespace" as const }),
    fc
      .constantFrom<Record<string, string>>({ app: "reviews" }, { app: "details" }, { version: "v1" })
      .map((matchLabels) => ({ kind: "Workload" as const, matchLabels })),
  );
  const policyArb = fc.record({
    namespace: fc.constantFrom("bookinfo", ROOT_NAMESPACE, "other"),
    action: fc.constantFrom("ALLOW" as const, "DENY" as const, "AUDIT" as const),
    scope: scopeArb,
    rules: fc.option(fc.array(ruleArb, { minLength: 1, maxLength: 3 }), { freq: 6 }),
  });
  return fc.array(policyArb, { minLength: 1, maxLength: 4 }).map((list) =>
    list.map((p, i): AuthorizationPolicyModel => ({
      source: { namespace: p.namespace, name: `p${i}`, generation: 1 },
      action: p.action,
      scope: p.namespace === ROOT_NAMESPACE && p.scope.kind === "Namespace" ? { kind: "Mesh" } : p.scope,
      rules:
        p.rules === null
          ? { kind: "MatchNothing" }
          : { kind: "Rules", rules: p.rules.map((r, index): AuthorizationRuleModel => ({ index, ...r })) },
    })),
  );
}

/** A generated request: `principal` null is plaintext; HTTP fields are ignored on TCP. */
export interface GeneratedRequest {
  readonly protocol: "HTTP" | "TCP";
  readonly principal: string | null;
  readonly sourceIp: string;
  readonly destinationIp: string;
  readonly port: number;
  readonly host: string;
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
}

/**
 * Requests; with `sameFamily`, source and destination addresses are of one
 * family, as a real connection's are.
 */
export function requestArb(
  pools: AddressPools,
  options: { protocol?: fc.Arbitrary<"HTTP" | "TCP">; sameFamily?: boolean } = {},
): fc.Arbitrary<GeneratedRequest> {
  const v6 = (ip: string) => ip.includes(":");
  const addresses = fc
    .tuple(fc.constantFrom(...pools.sourceIps), fc.constantFrom(...pools.destinationIps))
    .filter(([s, d]) => !options.sameFamily || v6(s) === v6(d));
  return fc
    .record({
      protocol:
        options.protocol ??
        fc.constantFrom("HTTP" as const, "HTTP" as const, "HTTP" as const, "TCP" as const),
      principal: fc.option(fc.constantFrom(...PRINCIPALS)),
      addresses,
      port: fc.constantFrom(...pools.ports),
      host: fc.constantFrom(...pools.hosts),
      method: fc.constantFrom(...pools.methods),
      path: fc.constantFrom(...PATHS, ...(pools.requestPseudoHeaders ? ["/a.json?debug=1"] : [])),
      headers: fc.dictionary(fc.constantFrom(...HEADER_NAMES), fc.constantFrom(...HEADER_VALUES), {
        maxKeys: 2,
      }),
    })
    .map(({ addresses: [sourceIp, destinationIp], ...r }) => ({ ...r, sourceIp, destinationIp }));
}

/** The evaluator's view of a generated request. */
export function evaluatorRequest(r: GeneratedRequest): AuthorizationRequest {
  return {
    protocol: r.protocol,
    ...(r.principal !== null ? { principal: r.principal } : {}),
    sourceIp: r.sourceIp,
    destinationIp: r.destinationIp,
    port: r.port,
    ...(r.protocol === "HTTP" ? { host: r.host, method: r.method, path: r.path, headers: r.headers } : {}),
  };
}
