import assert from "node:assert/strict";
import { covers } from "../../../src/analyze/analyzers/traffic-shadowed-rule.js";
import type { HttpRuleModel, RequestMatch } from "../../../src/ir/model.js";
import { requestMatches, type RouteRequest } from "../../../src/policy/route.js";

const rule = (...matches: Partial<RequestMatch>[]): HttpRuleModel => ({
  kind: "Route",
  name: "r",
  matches: matches.map((m) => ({ headers: [], queryParams: [], ...m })),
  destinations: [{ weight: 100 }],
});
const prefix = (value: string) => ({ path: { kind: "Prefix" as const, value } });
const exact = (value: string) => ({ path: { kind: "Exact" as const, value } });
const regex = (value: string) => ({ path: { kind: "Regex" as const, value } });
const header = (name: string, value: string) => ({
  headers: [{ name, match: { kind: "Exact" as const, value }, invert: false }],
});

/** Requests to try each verdict on: a covered rule's requests must all match the earlier rule too. */
const REQUESTS: RouteRequest[] = ["/", "/api", "/api/v1", "/api/v1?x=1", "/apix", "/other", "/API"].flatMap(
  (path) =>
    ["GET", "POST"].flatMap((method) =>
      ([{}, { "x-tester": "yes" }, { "x-tester": "no" }] as Record<string, string>[]).map((headers) => ({
        path,
        method,
        headers,
      })),
    ),
);

const matchesRule = (r: HttpRuleModel, request: RouteRequest) =>
  r.matches.length === 0 || r.matches.some((m) => requestMatches(m, request));

describe("analyze: a rule shadowed by an earlier one (SKF0104)", () => {
  const cases: [string, HttpRuleModel, HttpRuleModel, boolean][] = [
    ["a rule without matches covers everything", rule(), rule(prefix("/api")), true],
    ["a match without conditions covers everything", rule({}), rule({ ...exact("/x"), method: "GET" }), true],
    ["a shorter prefix covers a longer one", rule(prefix("/api")), rule(prefix("/api/v1")), true],
    ["a prefix covers an exact path under it", rule(prefix("/api")), rule(exact("/api/v1")), true],
    ["the same exact path", rule(exact("/api")), rule(exact("/api")), true],
    [
      "a method alone covers the method with a path",
      rule({ method: "GET" }),
      rule({ ...prefix("/"), method: "GET" }),
      true,
    ],
    [
      "each of the later matches covered",
      rule(prefix("/a"), prefix("/o")),
      rule(prefix("/api"), exact("/other")),
      true,
    ],
    ["a longer prefix does not cover a shorter one", rule(prefix("/api/v1")), rule(prefix("/api")), false],
    ["an exact path does not cover a prefix", rule(exact("/api")), rule(prefix("/api")), false],
    ["a prefix does not cover 'any path'", rule(prefix("/")), rule({ method: "GET" }), false],
    [
      "a header condition does not cover a rule without it",
      rule({ ...prefix("/api"), ...header("x-tester", "yes") }),
      rule(prefix("/api")),
      false,
    ],
    ["another method", rule({ method: "GET" }), rule({ method: "POST" }), false],
    ["regexes are not reasoned about", rule(regex("/api.*")), rule(exact("/api/v1")), false],
    ["one later match not covered", rule(prefix("/api")), rule(prefix("/api/v1"), prefix("/other")), false],
    ["a later rule without matches is covered only by a catch-all", rule(prefix("/")), rule(), false],
  ];
  for (const [name, earlier, later, expected] of cases)
    it(`${name}: ${expected ? "shadowed" : "not shadowed"}`, () => {
      assert.equal(covers(earlier, later), expected);
      // Never a false positive: every request the later rule matches, the earlier matches too.
      if (expected)
        for (const request of REQUESTS)
          if (matchesRule(later, request)) assert.ok(matchesRule(earlier, request), JSON.stringify(request));
    });
});
