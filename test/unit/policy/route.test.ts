import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import type { TrafficPolicy } from "../../../src/api/v1alpha1/generated/trafficpolicy.js";
import { trafficModel } from "../../../src/compile/traffic.js";
import type { RequestMatch } from "../../../src/ir/model.js";
import {
  primaryDestination,
  redirectLocation,
  requestMatches,
  routeHttp,
  routeTcp,
} from "../../../src/policy/route.js";
import { re2SyntaxProblem } from "../../../src/policy/re2.js";

const SAMPLE = join(
  import.meta.dirname,
  "..",
  "..",
  "..",
  "config",
  "samples",
  "skiff.dev_v1alpha1_trafficpolicy.yaml",
);
const reviews = trafficModel(parse(readFileSync(SAMPLE, "utf8")) as TrafficPolicy);
const get = (path: string, headers: Record<string, string> = {}) => ({ method: "GET", path, headers });

describe("routeHttp: the first matching rule of a TrafficPolicy", () => {
  it("takes the first rule whose match holds: the testers' header", () => {
    const route = routeHttp(reviews, get("/reviews/1", { "End-User": "jason" }));
    assert.deepEqual(route, {
      kind: "Rule",
      index: 0,
      name: "testers",
      destinations: [{ subset: "v3", weight: 100 }],
    });
  });

  it("returns every weighted destination, and the heaviest as primary", () => {
    const route = routeHttp(reviews, get("/reviews/1"));
    assert.ok(route.kind === "Rule");
    assert.equal(route.name, "canary");
    assert.deepEqual(route.destinations, [
      { subset: "v2", weight: 10 },
      { subset: "v1", weight: 90 },
    ]);
    assert.deepEqual(primaryDestination(route.destinations), { subset: "v1", weight: 90 });
  });

  it("checks every condition of a match: the method", () => {
    const route = routeHttp(reviews, { method: "POST", path: "/reviews/1", headers: {} });
    assert.equal(route.kind === "Rule" && route.name, "default");
  });

  it("falls back to the whole Service without a policy or a matching rule", () => {
    assert.deepEqual(routeHttp(undefined, get("/")), { kind: "Default", destinations: [{ weight: 100 }] });
    assert.deepEqual(
      routeHttp({ ...reviews, http: reviews.http.slice(0, 2) }, get("/ratings")).kind,
      "Default",
    );
  });

  it("routes TCP by the policy's tcp route", () => {
    assert.deepEqual(routeTcp(reviews), { kind: "Default", destinations: [{ weight: 100 }] });
    assert.deepEqual(routeTcp({ ...reviews, tcp: [{ subset: "v1", weight: 100 }] }).destinations, [
      { subset: "v1", weight: 100 },
    ]);
  });
});

describe("redirect rules", () => {
  const policy = (http: object[]) =>
    trafficModel({
      apiVersion: "skiff.dev/v1alpha1",
      kind: "TrafficPolicy",
      metadata: { name: "web", namespace: "shop", generation: 1 },
      spec: { targetRef: { name: "web" }, http },
    } as TrafficPolicy);

  it("compiles to a Redirect rule with the code defaulted to 301, once", () => {
    const model = policy([
      {
        name: "moved",
        match: [{ path: { prefix: "/old" } }],
        redirect: { uri: "/new", authority: "b.example" },
      },
      { name: "temp", redirect: { scheme: "https", port: 8443, redirectCode: 307 } },
    ]);
    assert.deepEqual(model.http, [
      {
        kind: "Redirect",
        name: "moved",
        matches: [{ path: { kind: "Prefix", value: "/old" }, headers: [], queryParams: [] }],
        redirect: { path: "/new", authority: "b.example", code: 301 },
      },
      { kind: "Redirect", name: "temp", matches: [], redirect: { port: 8443, scheme: "https", code: 307 } },
    ]);
  });

  it("lets the redirect win over a route beside it, as Istio's proxies do (CEL refuses it in a cluster)", () => {
    const [rule] = policy([{ route: [{}], redirect: { uri: "/x" } }]).http;
    assert.equal(rule!.kind, "Redirect");
  });

  it("routeHttp reports the redirect of the first matching rule, and forwards the rest", () => {
    const model = policy([
      { name: "moved", match: [{ path: { prefix: "/old" } }], redirect: { uri: "/new", redirectCode: 302 } },
      { name: "rest", route: [{}] },
    ]);
    assert.deepEqual(routeHttp(model, get("/old/page")), {
      kind: "Redirect",
      index: 0,
      name: "moved",
      redirect: { path: "/new", code: 302 },
    });
    assert.equal(routeHttp(model, get("/other")).kind, "Rule");
  });

  describe("redirectLocation: the Location Envoy builds", () => {
    const request = { scheme: "http" as const, host: "web.shop:8080", path: "/old/page?q=1" };
    const cases: [string, Parameters<typeof redirectLocation>[0], Partial<typeof request>, string][] = [
      [
        "path and authority; the query is kept",
        { path: "/new", authority: "b.example", code: 301 },
        {},
        "http://b.example/new?q=1",
      ],
      [
        "a path with its own query replaces the request's",
        { path: "/new?x=2", code: 301 },
        {},
        "http://web.shop:8080/new?x=2",
      ],
      [
        "scheme alone keeps a non-default port",
        { scheme: "https", code: 301 },
        {},
        "https://web.shop:8080/old/page?q=1",
      ],
      [
        "scheme and port replace the request's port",
        { scheme: "https", port: 8443, code: 308 },
        {},
        "https://web.shop:8443/old/page?q=1",
      ],
      [
        "scheme change drops the old scheme's default port",
        { scheme: "https", code: 301 },
        { host: "web.shop:80" },
        "https://web.shop/old/page?q=1",
      ],
      [
        "the same scheme keeps port 80",
        { path: "/n", code: 301 },
        { host: "web.shop:80" },
        "http://web.shop:80/n?q=1",
      ],
      [
        "authority and port",
        { authority: "b.example", port: 9000, code: 301 },
        {},
        "http://b.example:9000/old/page?q=1",
      ],
      [
        "an IPv6 host keeps its brackets",
        { port: 9000, code: 301 },
        { host: "[fd00::1]:8080" },
        "http://[fd00::1]:9000/old/page?q=1",
      ],
    ];
    for (const [name, redirect, overrides, expected] of cases) {
      it(name, () => assert.equal(redirectLocation(redirect, { ...request, ...overrides }), expected));
    }
  });
});

describe("requestMatches: Envoy's route match semantics", () => {
  const match = (m: Partial<RequestMatch>): RequestMatch => ({ headers: [], queryParams: [], ...m });
  const header = (name: string, m: RequestMatch["headers"][number]["match"], invert = false) =>
    match({ headers: [{ name, match: m, invert }] });

  const cases: [string, RequestMatch, { path?: string; headers?: Record<string, string> }, boolean][] = [
    [
      "exact path ignores the query",
      match({ path: { kind: "Exact", value: "/a" } }),
      { path: "/a?x=1" },
      true,
    ],
    ["prefix path", match({ path: { kind: "Prefix", value: "/api" } }), { path: "/api/v1" }, true],
    [
      "prefix is on the characters, not segments",
      match({ path: { kind: "Prefix", value: "/api" } }),
      { path: "/apis" },
      true,
    ],
    [
      "regex must match the whole path",
      match({ path: { kind: "Regex", value: "/v[0-9]" } }),
      { path: "/v1/x" },
      false,
    ],
    [
      "regex without the query",
      match({ path: { kind: "Regex", value: "/v[0-9]+" } }),
      { path: "/v12?q" },
      true,
    ],
    ["header exact", header("x-user", { kind: "Exact", value: "a" }), { headers: { "X-User": "a" } }, true],
    [
      "header regex is a full match",
      header("x-user", { kind: "Regex", value: "a" }),
      { headers: { "x-user": "ab" } },
      false,
    ],
    [
      "header regex (?i)",
      header("x-user", { kind: "Regex", value: "(?i)ab.*" }),
      { headers: { "x-user": "ABC" } },
      true,
    ],
    [
      "inverted header on another value",
      header("x-user", { kind: "Exact", value: "a" }, true),
      { headers: { "x-user": "b" } },
      true,
    ],
    // Envoy: an absent header never matches a string matcher, inverted or not (treat_missing_header_as_empty is false).
    ["inverted header when absent", header("x-user", { kind: "Exact", value: "a" }, true), {}, false],
    ["present", header("x-user", { kind: "Present", present: true }), { headers: { "x-user": "" } }, true],
    ["present: false on an absent header", header("x-user", { kind: "Present", present: false }), {}, true],
    [
      "inverted present on an absent header",
      header("x-user", { kind: "Present", present: true }, true),
      {},
      true,
    ],
    [
      "query parameter, decoded",
      match({ queryParams: [{ name: "q", match: { kind: "Exact", value: "a b" }, invert: false }] }),
      { path: "/?q=a%20b&q=c" },
      true,
    ],
    [
      "query parameter absent",
      match({ queryParams: [{ name: "q", match: { kind: "Present", present: true }, invert: false }] }),
      { path: "/?other=1" },
      false,
    ],
  ];
  for (const [name, m, request, expected] of cases) {
    it(name, () => {
      assert.equal(
        requestMatches(m, { method: "GET", path: request.path ?? "/", headers: request.headers ?? {} }),
        expected,
      );
    });
  }

  it("refuses regexes RE2 cannot compile", () => {
    assert.match(re2SyntaxProblem("(unclosed") ?? "", /missing closing \)/);
  });
});

describe("requestMatches: regexes are RE2, as Envoy's safe_regex", () => {
  const headerRegex = (regex: string) =>
    ({
      headers: [{ name: "x-user", match: { kind: "Regex", value: regex }, invert: false }],
      queryParams: [],
    }) satisfies RequestMatch;
  const withHeader = (value: string) => ({ method: "GET", path: "/", headers: { "x-user": value } });

  // A backtracking engine takes exponential time here; RE2 takes linear time.
  // The test asserts the answer: before the fix it never came.
  it("answers (a+)+b on 40 a's without catastrophic backtracking", () => {
    assert.equal(requestMatches(headerRegex("(a+)+b"), withHeader("a".repeat(40))), false);
    assert.equal(requestMatches(headerRegex("(a+)+b"), withHeader(`${"a".repeat(40)}b`)), true);
  });

  it("reads Unicode classes as RE2 does", () => {
    assert.equal(requestMatches(headerRegex("\\pL+"), withHeader("Zoë")), true);
  });

  it("takes a flag group after the start, as RE2 does", () => {
    assert.equal(requestMatches(headerRegex("a(?i)b"), withHeader("aB")), true);
  });

  it("refuses what RE2 refuses though JavaScript accepts it", () => {
    for (const pattern of ["(?=a)a", "(a)\\1", "\\u0041", "\\cA"])
      assert.notEqual(re2SyntaxProblem(pattern), undefined, pattern);
    assert.equal(re2SyntaxProblem("[[:alpha:]]+\\.\\pN{2}"), undefined);
  });

  it("matches the whole value even when the pattern has alternatives", () => {
    assert.equal(requestMatches(headerRegex("a|b"), withHeader("ab")), false);
    assert.equal(requestMatches(headerRegex("a|b"), withHeader("b")), true);
  });
});
