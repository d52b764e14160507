import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { JsonObject } from "@bufbuild/protobuf";
import fc from "fast-check";
import { parseIpBlock, parsePattern } from "../../../src/compile/security.js";
import type {
  AuthorizationPolicyModel,
  AuthorizationRuleModel,
  CidrModel,
  ConditionModel,
  OperationModel,
  PolicyScope,
  SourceModel,
} from "../../../src/ir/security.js";
import { appliesTo, authorize, type AuthorizationRequest } from "../../../src/policy/authorization.js";
import { encodeJson } from "../../../src/xds/protos/registry.js";
import { rbacFilters } from "../../../src/xds/translate/authorization.js";

/**
 * Differential test: our reference evaluator (src/policy/authorization.ts)
 * against a real RBAC engine, gRPC's (@grpc/grpc-js-xds 1.14.1), running
 * our translation (src/xds/translate/authorization.ts) of random policy sets
 * on random requests.
 *
 * The engine gets its config exactly as a proxyless gRPC server would: our
 * RBAC JSON is encoded to protobuf bytes with encodeJson, wrapped in an Any
 * and handed to grpc-js-xds's own HTTP filter parser (its bundled protos,
 * its proto-loader options). For TCP, which grpc-js-xds has no filter for,
 * the network RBAC message is decoded with the same loader and options over
 * the same bundled protos, and its `rules` go to the same `parseConfig`.
 * The filters run in order, and a request is allowed when every filter
 * accepts it, as in a filter chain.
 *
 * What the generator leaves out, and why (each is a limit of gRPC's engine
 * or of its request model, not a difference in semantics we accept):
 * - No SNI: gRPC's engine matches `requested_server_name` against "" always,
 *   so requests carry none (and every SNI matcher we emit fails on "", as it
 *   fails on an absent SNI in the evaluator).
 * - remote.ip equals source.ip: gRPC maps `remote_ip` to the peer address,
 *   as Envoy does without trusted proxies; the evaluator's default is the same.
 * - Paths carry no query string: gRPC's urlPath is a method path that never
 *   has one, so the engine does not strip it as Envoy's url_path does.
 * - No `content-type` or `-bin` headers and no repeated headers: gRPC fixes
 *   content-type to application/grpc and never matches `-bin` headers; header
 *   values are printable ASCII, as gRPC metadata requires.
 * - Principals are well-formed SPIFFE identities (`<td>/ns/<ns>/sa/<sa>`,
 *   names without `/`), as Kubernetes issues them; the namespace regex and
 *   the evaluator's namespace extraction differ only for malformed ones.
 */

const require = createRequire(import.meta.url);
const XDS = dirname(require.resolve("@grpc/grpc-js-xds/package.json"));
const xdsRequire = createRequire(join(XDS, "package.json"));

interface RbacGroup {
  apply(info: unknown): boolean;
}
interface Metadata {
  set(key: string, value: string): void;
}

/** grpc-js-xds's HTTP filter registry, with its RBAC filter registered as GRPC_XDS_EXPERIMENTAL_RBAC=true does. */
function grpcEngine() {
  // proto-loader's entry point registers the google/protobuf descriptors that
  // the filter's loader needs; grpc-js-xds's own index loads it first too.
  xdsRequire("@grpc/proto-loader");
  // Test-harness workaround, no change in semantics: re2-wasm has a fixed
  // 16 MiB heap and never frees a compiled RE2, so thousands of parsed
  // configs run it out of memory. The engine's regexes (flag "u" only) are
  // stateless for test(), so identical ones can share one instance.
  const re2 = xdsRequire("re2-wasm") as { RE2: new (pattern: string, flags?: string) => object };
  const cache = new Map<string, object>();
  re2.RE2 = new Proxy(re2.RE2, {
    construct(target, args: [string, string?]) {
      const key = JSON.stringify(args);
      let instance = cache.get(key);
      if (!instance) cache.set(key, (instance = new target(...args)));
      return instance;
    },
  });
  const environment = xdsRequire("./build/src/environment.js") as { EXPERIMENTAL_RBAC: boolean };
  environment.EXPERIMENTAL_RBAC = true;
  (xdsRequire("./build/src/http-filter/rbac-filter.js") as { setup(): void }).setup();
  const httpFilter = xdsRequire("./build/src/http-filter.js") as {
    parseTopLevelFilterConfig(
      any: { type_url: string; value: Buffer },
      client: boolean,
    ): {
      config: RbacGroup;
    } | null;
  };
  const rbac = xdsRequire("./build/src/rbac.js") as { parseConfig(rules: unknown): RbacGroup };
  const { loadProtosWithOptionsSync } = xdsRequire("@grpc/proto-loader/build/src/util") as {
    loadProtosWithOptionsSync(
      files: string[],
      options: object,
    ): {
      lookup(name: string): {
        decode(b: Uint8Array): { $type: { toObject(m: unknown, o: object): unknown } };
      };
    };
  };
  const deps = join(XDS, "deps");
  const root = loadProtosWithOptionsSync(["envoy/extensions/filters/network/rbac/v3/rbac.proto"], {
    keepCase: true,
    includeDirs: ["xds", "envoy-api", "protoc-gen-validate", "googleapis"].map((d) => join(deps, d)),
  });
  const toObjectOptions = { longs: String, enums: String, defaults: true, oneofs: true };
  const { Metadata } = xdsRequire("@grpc/grpc-js") as { Metadata: new () => Metadata };

  /** One filter's decision function, from our filter entry as a proxy receives it (bytes). */
  const load = (filter: JsonObject): RbacGroup => {
    const { "@type": type, ...body } = filter.typed_config as JsonObject;
    const typeUrl = String(type);
    const name = typeUrl.replace("type.googleapis.com/", "");
    const bytes = encodeJson(name, body);
    if (name.includes(".http.")) {
      const parsed = httpFilter.parseTopLevelFilterConfig(
        { type_url: typeUrl, value: Buffer.from(bytes) },
        false,
      );
      assert.ok(parsed, "grpc-js-xds rejected the RBAC filter config");
      return parsed.config;
    }
    const message = root.lookup(name).decode(bytes);
    const decoded = message.$type.toObject(message, toObjectOptions) as { rules?: unknown };
    assert.ok(decoded.rules, "network RBAC without rules");
    return rbac.parseConfig(decoded.rules);
  };
  return { load, Metadata };
}

// --- Generators --------------------------------------------------------------

const ROOT = "skiff-system";
const WORKLOAD = { namespace: "bookinfo", labels: { app: "reviews", version: "v1" } };

const PRINCIPALS = [
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
const CIDRS = [
  "10.0.0.0/8",
  "10.1.0.0/16",
  "10.1.2.3",
  "10.1.2.99/24",
  "192.168.0.0/16",
  "2001:db8::/32",
  "0.0.0.0/0",
];
const SOURCE_IPS = ["10.1.2.3", "10.2.0.1", "192.168.5.5", "2001:db8::1", "172.16.0.1", "10.1.3.4"];
const DEST_IPS = ["10.1.2.10", "10.9.9.9", "2001:db8::10"];
const DEST_CIDRS = ["10.1.0.0/16", "10.1.2.10", "10.0.0.0/8", "2001:db8::/64"];
const HOST_PATTERNS = ["reviews", "reviews:9080", "Reviews*", "*.SVC", "*:9080", "details.svc", "*"];
const HOSTS = ["reviews", "reviews:9080", "REVIEWS.bookinfo.svc", "details.svc", "ratings.svc:9080", ""];
const METHOD_PATTERNS = ["GET", "POST", "G*", "*T", "*"];
const METHODS = ["GET", "POST", "PUT", "DELETE", "get"];
const PATH_PATTERNS = ["/reviews/*", "/healthz", "*.json", "/admin*", "*"];
const PATHS = ["/reviews/1", "/healthz", "/a.json", "/admin/x", "/", "/reviews/2.json"];
const PORTS = [9080, 8080, 15000];
const HEADER_NAMES = ["x-version", "x-user"];
const HEADER_PATTERNS = ["v1", "v2*", "*-beta", "*", "alice"];
const HEADER_VALUES = ["v1", "v2.1", "x-beta", "", "alice", "Alice"];
const SNI_PATTERNS = ["reviews.svc", "*.svc", "outbound_*", "*"];

const some = <T>(pool: readonly T[]) => fc.subarray([...pool], { minLength: 1, maxLength: 3 });
const patterns = (pool: readonly string[]) => some(pool).map((vs) => vs.map(parsePattern));
const cidrs = (pool: readonly string[]) =>
  some(pool).map((vs) => vs.map((v) => parseIpBlock(v)).filter((c): c is CidrModel => c !== undefined));

const sourceArb: fc.Arbitrary<SourceModel> = fc.record(
  {
    principals: patterns(PRINCIPAL_PATTERNS),
    notPrincipals: patterns(PRINCIPAL_PATTERNS),
    namespaces: patterns(NAMESPACE_PATTERNS),
    notNamespaces: patterns(NAMESPACE_PATTERNS),
    ipBlocks: cidrs(CIDRS),
    notIpBlocks: cidrs(CIDRS),
  },
  { requiredKeys: [] },
);

const operationArb: fc.Arbitrary<OperationModel> = fc.record(
  {
    hosts: patterns(HOST_PATTERNS),
    notHosts: patterns(HOST_PATTERNS),
    ports: some(PORTS),
    notPorts: some(PORTS),
    methods: patterns(METHOD_PATTERNS),
    notMethods: patterns(METHOD_PATTERNS),
    paths: patterns(PATH_PATTERNS),
    notPaths: patterns(PATH_PATTERNS),
  },
  { requiredKeys: [] },
);

/** values and/or notValues, at least one of them, as the schema requires. */
function valued<T>(arb: fc.Arbitrary<T[]>) {
  return fc.oneof(
    fc.record({ values: arb }),
    fc.record({ notValues: arb }),
    fc.record({ values: arb, notValues: arb }),
  );
}

const conditionArb: fc.Arbitrary<ConditionModel> = fc.oneof(
  fc
    .tuple(fc.constantFrom(...HEADER_NAMES), valued(patterns(HEADER_PATTERNS)))
    .map(([name, v]): ConditionModel => ({ kind: "RequestHeader", name, ...v })),
  fc
    .tuple(fc.constantFrom("SourceIp" as const, "RemoteIp" as const), valued(cidrs(CIDRS)))
    .map(([kind, v]): ConditionModel => ({ kind, ...v })),
  valued(cidrs(DEST_CIDRS)).map((v): ConditionModel => ({ kind: "DestinationIp", ...v })),
  valued(patterns(PRINCIPAL_PATTERNS)).map((v): ConditionModel => ({ kind: "SourcePrincipal", ...v })),
  valued(patterns(NAMESPACE_PATTERNS)).map((v): ConditionModel => ({ kind: "SourceNamespace", ...v })),
  valued(patterns(SNI_PATTERNS)).map((v): ConditionModel => ({ kind: "ConnectionSni", ...v })),
  valued(some(PORTS)).map((v): ConditionModel => ({ kind: "DestinationPort", ...v })),
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
    .map((matchLabels) => ({
      kind: "Workload" as const,
      matchLabels,
    })),
);

const policyArb = fc.record({
  namespace: fc.constantFrom("bookinfo", ROOT, "other"),
  action: fc.constantFrom("ALLOW" as const, "DENY" as const, "AUDIT" as const),
  scope: scopeArb,
  rules: fc.option(fc.array(ruleArb, { minLength: 1, maxLength: 3 }), { freq: 6 }),
});

const policiesArb = fc.array(policyArb, { minLength: 1, maxLength: 4 }).map((list) =>
  list.map((p, i): AuthorizationPolicyModel => ({
    source: { namespace: p.namespace, name: `p${i}`, generation: 1 },
    action: p.action,
    scope: p.namespace === ROOT && p.scope.kind === "Namespace" ? { kind: "Mesh" } : p.scope,
    rules:
      p.rules === null
        ? { kind: "MatchNothing" }
        : { kind: "Rules", rules: p.rules.map((r, index): AuthorizationRuleModel => ({ index, ...r })) },
  })),
);

const requestArb = fc.record({
  protocol: fc.constantFrom("HTTP" as const, "HTTP" as const, "HTTP" as const, "TCP" as const),
  principal: fc.option(fc.constantFrom(...PRINCIPALS)), // null: plaintext
  sourceIp: fc.constantFrom(...SOURCE_IPS),
  destinationIp: fc.constantFrom(...DEST_IPS),
  port: fc.constantFrom(...PORTS),
  host: fc.constantFrom(...HOSTS),
  method: fc.constantFrom(...METHODS),
  path: fc.constantFrom(...PATHS),
  headers: fc.dictionary(fc.constantFrom(...HEADER_NAMES), fc.constantFrom(...HEADER_VALUES), { maxKeys: 2 }),
});
type GeneratedRequest = typeof requestArb extends fc.Arbitrary<infer T> ? T : never;

// --- The comparison ----------------------------------------------------------

describe("differential: evaluator vs gRPC's RBAC engine on our translation", () => {
  const SEED = 20250611;
  const RUNS = 5000;
  const engine = grpcEngine();

  function ours(policies: AuthorizationPolicyModel[], r: GeneratedRequest): boolean {
    const request: AuthorizationRequest = {
      protocol: r.protocol,
      ...(r.principal !== null ? { principal: r.principal } : {}),
      sourceIp: r.sourceIp,
      destinationIp: r.destinationIp,
      port: r.port,
      ...(r.protocol === "HTTP" ? { host: r.host, method: r.method, path: r.path, headers: r.headers } : {}),
    };
    return authorize(policies, ROOT, WORKLOAD, request).decision === "ALLOW";
  }

  function theirs(policies: AuthorizationPolicyModel[], r: GeneratedRequest): boolean {
    const applying = policies.filter((p) => appliesTo(p, ROOT, WORKLOAD));
    const filters = rbacFilters(applying, { trustDomain: "cluster.local", protocol: r.protocol });
    const headers = new engine.Metadata();
    if (r.protocol === "HTTP") {
      headers.set(":method", r.method);
      headers.set(":authority", r.host);
      headers.set(":path", r.path);
      for (const [k, v] of Object.entries(r.headers)) headers.set(k, v);
    }
    const info = {
      destinationIp: r.destinationIp,
      destinationPort: r.port,
      sourceIp: r.sourceIp,
      headers,
      tls: r.principal !== null,
      peerCertificate:
        r.principal !== null ? { subjectaltname: `URI:spiffe://${r.principal}`, subject: {} } : null,
      urlPath: r.protocol === "HTTP" ? r.path : "",
    };
    return filters.every((f) => engine.load(f).apply(info));
  }

  const agree = (policies: AuthorizationPolicyModel[], r: GeneratedRequest) =>
    ours(policies, r) === theirs(policies, r);

  it(`agrees on ${RUNS} random policy sets and requests`, function () {
    this.timeout(120_000);
    let cases = 0;
    let mismatches = 0;
    let allowed = 0;
    fc.assert(
      fc.property(policiesArb, requestArb, (policies, request) => {
        cases++;
        if (ours(policies, request)) allowed++;
        if (!agree(policies, request)) mismatches++;
      }),
      { numRuns: RUNS, seed: SEED },
    );
    console.log(
      `      differential: ${cases} cases, ${mismatches} mismatches (${allowed} allowed by the evaluator)`,
    );
    // Both decisions must be well represented, or the comparison proves little.
    assert.ok(allowed > cases / 10 && allowed < (cases * 9) / 10, `${allowed} of ${cases} allowed`);
    if (mismatches > 0)
      // Replays the same cases, failing on the first mismatch, and shrinks it to a minimal counterexample.
      fc.assert(
        fc.property(policiesArb, requestArb, (policies, request) => agree(policies, request)),
        { numRuns: RUNS, seed: SEED },
      );
  });
});
