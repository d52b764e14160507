import assert from "node:assert/strict";
import type {
  AuthorizationPolicy,
  AuthorizationPolicySpec,
} from "../../../src/api/v1alpha1/generated/authorizationpolicy.js";
import {
  authorizationPolicyIssues,
  authorizationPolicyModel,
  mtlsWarnings,
  securityIssues,
} from "../../../src/compile/security.js";
import { authorize, type AuthorizationRequest } from "../../../src/policy/authorization.js";
import { invalidFixtures } from "../../support/invalid-fixtures.js";

/*
 * Istio's documented semantics, as a table. Quotes come from Istio's
 * AuthorizationPolicy reference (istio/api security/v1beta1/authorization_policy.proto,
 * https://istio.io/latest/docs/reference/config/security/authorization-policy/)
 * unless they name another source.
 *
 * Every case runs against the workload httpbin (app=httpbin, version=v1) in
 * namespace foo, with the mesh's root namespace istio-system, and a request
 * that, unless the case says otherwise, is: mTLS from
 * cluster.local/ns/foo/sa/sleep at 10.0.0.1, GET /info on port 8000 with
 * Host httpbin.foo:8000, to 10.0.1.5.
 */

const ROOT = "istio-system";
const WORKLOAD = { namespace: "foo", labels: { app: "httpbin", version: "v1" } };
const SLEEP = "cluster.local/ns/foo/sa/sleep";
const REQUEST: AuthorizationRequest = {
  protocol: "HTTP",
  principal: SLEEP,
  sourceIp: "10.0.0.1",
  destinationIp: "10.0.1.5",
  port: 8000,
  host: "httpbin.foo:8000",
  method: "GET",
  path: "/info",
  headers: {},
  sni: "outbound_.8000_._.httpbin.foo.svc.cluster.local",
};

/** A policy: `namespace/name` and its spec. */
type Policy = [string, AuthorizationPolicySpec];

interface Case {
  name: string;
  policies: Policy[];
  /** Changes to the default request; `principal: undefined` makes it plaintext. */
  request?: Partial<AuthorizationRequest>;
  workload?: { namespace: string; labels: Record<string, string> };
  /** decision, then policy and rule (both null when the default decided). */
  expect: ["ALLOW" | "DENY", string | null, number | null];
  audited?: string[];
}

const allowAll: AuthorizationPolicySpec = { rules: [{}] };
const denyAll: AuthorizationPolicySpec = { action: "DENY", rules: [{}] };
const plaintext = { principal: undefined };
const allowFrom = (source: Record<string, string[]>): AuthorizationPolicySpec => ({
  rules: [{ from: [{ source }] }],
});
const allowTo = (operation: Record<string, string[]>): AuthorizationPolicySpec => ({
  rules: [{ to: [{ operation }] }],
});
const allowWhen = (...when: { key: string; values?: string[]; notValues?: string[] }[]) => ({
  rules: [{ when }],
});

const CASES: Case[] = [
  // --- Precedence --------------------------------------------------------------
  // "3. If there are no ALLOW policies for the workload, allow the request."
  { name: "no policy allows", policies: [], expect: ["ALLOW", null, null] },
  // "the following authorization policy applies to all workloads in namespace foo. It allows nothing" (spec: {})
  { name: "spec: {} denies all", policies: [["foo/allow-nothing", {}]], expect: ["DENY", null, null] },
  // "The following authorization policy allows all requests to workloads in namespace foo." (rules: [{}])
  {
    name: "rules: [{}] allows all",
    policies: [["foo/allow-all", allowAll]],
    expect: ["ALLOW", "foo/allow-all", 0],
  },
  {
    name: "an empty rules list is spec: {}",
    policies: [["foo/p", { rules: [] }]],
    expect: ["DENY", null, null],
  },
  // "An empty rule is always matched."
  {
    name: "DENY with rules: [{}] denies all",
    policies: [["foo/deny-all", denyAll]],
    expect: ["DENY", "foo/deny-all", 0],
  },
  // rules: "If not set, the match will never occur."
  {
    name: "DENY without rules matches nothing",
    policies: [["foo/deny", { action: "DENY" }]],
    expect: ["ALLOW", null, null],
  },
  // "2. If there are any DENY policies that match the request, deny the request."
  {
    name: "DENY is checked before ALLOW",
    policies: [
      ["foo/allow-all", allowAll],
      ["foo/deny-all", denyAll],
    ],
    expect: ["DENY", "foo/deny-all", 0],
  },
  {
    name: "a DENY that does not match leaves the decision to ALLOW",
    policies: [
      ["foo/deny-post", { action: "DENY", rules: [{ to: [{ operation: { methods: ["POST"] } }] }] }],
      ["foo/allow-all", allowAll],
    ],
    expect: ["ALLOW", "foo/allow-all", 0],
  },
  // "5. Deny the request."
  {
    name: "ALLOW policies apply but none matches: deny",
    policies: [
      ["foo/deny-post", { action: "DENY", rules: [{ to: [{ operation: { methods: ["POST"] } }] }] }],
      ["foo/allow-put", allowTo({ methods: ["PUT"] })],
    ],
    expect: ["DENY", null, null],
  },
  {
    name: "only a DENY policy that does not match: allow",
    policies: [
      ["foo/deny-post", { action: "DENY", rules: [{ to: [{ operation: { methods: ["POST"] } }] }] }],
    ],
    expect: ["ALLOW", null, null],
  },
  // "if multiple authorization policies apply to the same workload, the effect is additive"
  {
    name: "ALLOW policies add up",
    policies: [
      ["foo/allow-nothing", {}],
      ["foo/allow-get", allowTo({ methods: ["GET"] })],
    ],
    expect: ["ALLOW", "foo/allow-get", 0],
  },
  {
    name: "two matching ALLOW policies: the first RBAC policy name decides",
    policies: [
      ["foo/b", allowAll],
      ["foo/a", allowAll],
    ],
    expect: ["ALLOW", "foo/a", 0],
  },
  {
    name: "rules are ORed; the matching rule is named",
    policies: [
      [
        "foo/p",
        {
          rules: [
            { to: [{ operation: { methods: ["POST"] } }] },
            { to: [{ operation: { methods: ["GET"] } }] },
          ],
        },
      ],
    ],
    expect: ["ALLOW", "foo/p", 1],
  },
  {
    // Envoy keeps RBAC policies in a std::map, so "foo/d/10" sorts before "foo/d/2".
    name: "attribution follows RBAC policy name order",
    policies: [
      [
        "foo/d",
        {
          action: "DENY",
          rules: [
            { to: [{ operation: { methods: ["POST"] } }] },
            { to: [{ operation: { methods: ["PUT"] } }] },
            ...Array.from({ length: 9 }, () => ({})),
          ],
        },
      ],
    ],
    expect: ["DENY", "foo/d", 10],
  },
  // "AUDIT policies do not affect whether requests are allowed or denied to the workload."
  {
    name: "AUDIT alone does not decide",
    policies: [["foo/audit", { action: "AUDIT", rules: [{}] }]],
    expect: ["ALLOW", null, null],
    audited: ["foo/audit/0"],
  },
  {
    name: "AUDIT does not turn on deny-by-default",
    policies: [["foo/audit", { action: "AUDIT", rules: [{ to: [{ operation: { methods: ["POST"] } }] }] }]],
    expect: ["ALLOW", null, null],
    audited: [],
  },
  {
    // Istio puts the AUDIT RBAC filter before DENY, so denied requests are audited too.
    name: "a denied request is still audited",
    policies: [
      ["foo/audit", { action: "AUDIT", rules: [{}] }],
      ["foo/deny-all", denyAll],
    ],
    expect: ["DENY", "foo/deny-all", 0],
    audited: ["foo/audit/0"],
  },
  {
    name: "AUDIT with allow-nothing",
    policies: [
      ["foo/audit", { action: "AUDIT", rules: [{ to: [{ operation: { paths: ["/info"] } }] }] }],
      ["foo/allow-nothing", {}],
    ],
    expect: ["DENY", null, null],
    audited: ["foo/audit/0"],
  },

  // --- Scope -------------------------------------------------------------------
  // "The selector will match with workloads in the same namespace as the authorization policy."
  {
    name: "a selector that matches applies",
    policies: [["foo/p", { selector: { matchLabels: { app: "httpbin" } } }]],
    expect: ["DENY", null, null],
  },
  {
    name: "a selector that does not match does not apply",
    policies: [["foo/p", { selector: { matchLabels: { app: "other" } } }]],
    expect: ["ALLOW", null, null],
  },
  {
    name: "every label of the selector must match",
    policies: [["foo/p", { selector: { matchLabels: { app: "httpbin", version: "v2" } } }]],
    expect: ["ALLOW", null, null],
  },
  {
    name: "a policy of another namespace does not apply",
    policies: [["bar/allow-nothing", {}]],
    expect: ["ALLOW", null, null],
  },
  {
    name: "a selector in another (non-root) namespace does not apply",
    policies: [["bar/p", { selector: { matchLabels: { app: "httpbin" } } }]],
    expect: ["ALLOW", null, null],
  },
  // "If set to root namespace, the policy applies to all namespaces in a mesh."
  {
    name: "a root-namespace policy without selector applies mesh-wide",
    policies: [["istio-system/allow-nothing", {}]],
    expect: ["DENY", null, null],
  },
  // "If the authorization policy is in the root namespace, the selector will additionally match with workloads in all namespaces."
  {
    name: "a root-namespace selector matches workloads of every namespace",
    policies: [["istio-system/p", { selector: { matchLabels: { version: "v1" } } }]],
    expect: ["DENY", null, null],
  },
  {
    name: "a root-namespace selector that does not match does not apply",
    policies: [["istio-system/p", { selector: { matchLabels: { version: "v2" } } }]],
    expect: ["ALLOW", null, null],
  },
  {
    name: "a mesh-wide DENY beats a local ALLOW",
    policies: [
      ["istio-system/deny-all", denyAll],
      ["foo/allow-all", allowAll],
    ],
    expect: ["DENY", "istio-system/deny-all", 0],
  },
  {
    name: "a mesh-wide ALLOW and a local allow-nothing add up",
    policies: [
      ["istio-system/allow-all", allowAll],
      ["foo/allow-nothing", {}],
    ],
    expect: ["ALLOW", "istio-system/allow-all", 0],
  },

  // --- Principals (mTLS only) --------------------------------------------------
  {
    name: "principals: exact",
    policies: [["foo/p", allowFrom({ principals: [SLEEP] })]],
    expect: ["ALLOW", "foo/p", 0],
  },
  {
    name: "principals: another identity",
    policies: [["foo/p", allowFrom({ principals: ["cluster.local/ns/foo/sa/other"] })]],
    expect: ["DENY", null, null],
  },
  // 'Prefix match: "abc*" will match on value "abc" and "abcd".'
  {
    name: "principals: prefix",
    policies: [["foo/p", allowFrom({ principals: ["cluster.local/ns/foo/*"] })]],
    expect: ["ALLOW", "foo/p", 0],
  },
  // 'Suffix match: "*abc" will match on value "abc" and "xabc".'
  {
    name: "principals: suffix",
    policies: [["foo/p", allowFrom({ principals: ["*/sa/sleep"] })]],
    expect: ["ALLOW", "foo/p", 0],
  },
  // 'Presence match: "*" will match when value is not empty.'
  {
    name: "principals: * with mTLS",
    policies: [["foo/p", allowFrom({ principals: ["*"] })]],
    expect: ["ALLOW", "foo/p", 0],
  },
  // ISTIO-SECURITY-2021-004: "These mTLS-only fields will never match when the traffic is plain text"
  {
    name: "principals: * never matches plaintext",
    policies: [["foo/p", allowFrom({ principals: ["*"] })]],
    request: plaintext,
    expect: ["DENY", null, null],
  },
  {
    name: "principals: exact never matches plaintext",
    policies: [["foo/p", allowFrom({ principals: [SLEEP] })]],
    request: plaintext,
    expect: ["DENY", null, null],
  },
  {
    name: "notPrincipals: the identity is excluded",
    policies: [["foo/p", allowFrom({ notPrincipals: [SLEEP] })]],
    expect: ["DENY", null, null],
  },
  {
    name: "notPrincipals: another identity passes",
    policies: [["foo/p", allowFrom({ notPrincipals: ["cluster.local/ns/foo/sa/other"] })]],
    expect: ["ALLOW", "foo/p", 0],
  },
  // Envoy RBAC: not_id of an `authenticated` matcher that fails for lack of a certificate holds.
  {
    name: "notPrincipals: matches plaintext",
    policies: [["foo/p", allowFrom({ notPrincipals: [SLEEP] })]],
    request: plaintext,
    expect: ["ALLOW", "foo/p", 0],
  },
  {
    name: "DENY notPrincipals: [*] denies plaintext",
    policies: [
      ["foo/require-mtls", { action: "DENY", rules: [{ from: [{ source: { notPrincipals: ["*"] } }] }] }],
    ],
    request: plaintext,
    expect: ["DENY", "foo/require-mtls", 0],
  },
  {
    name: "DENY notPrincipals: [*] lets mTLS through",
    policies: [
      ["foo/require-mtls", { action: "DENY", rules: [{ from: [{ source: { notPrincipals: ["*"] } }] }] }],
    ],
    expect: ["ALLOW", null, null],
  },

  // --- Namespaces (mTLS only) --------------------------------------------------
  {
    name: "namespaces: exact",
    policies: [["foo/p", allowFrom({ namespaces: ["foo"] })]],
    expect: ["ALLOW", "foo/p", 0],
  },
  {
    name: "namespaces: another namespace",
    policies: [["foo/p", allowFrom({ namespaces: ["bar"] })]],
    expect: ["DENY", null, null],
  },
  {
    name: "namespaces: prefix",
    policies: [["foo/p", allowFrom({ namespaces: ["fo*"] })]],
    expect: ["ALLOW", "foo/p", 0],
  },
  {
    name: "namespaces: suffix",
    policies: [["foo/p", allowFrom({ namespaces: ["*oo"] })]],
    expect: ["ALLOW", "foo/p", 0],
  },
  {
    name: "namespaces: * never matches plaintext",
    policies: [["foo/p", allowFrom({ namespaces: ["*"] })]],
    request: plaintext,
    expect: ["DENY", null, null],
  },
  // ISTIO-SECURITY-2021-004: "A plain text request from the namespace foo will actually be allowed."
  {
    name: "notNamespaces: a plaintext request from the excluded namespace is allowed",
    policies: [["foo/allow-ns-not-foo", allowFrom({ notNamespaces: ["foo"] })]],
    request: plaintext,
    expect: ["ALLOW", "foo/allow-ns-not-foo", 0],
  },
  {
    name: "notNamespaces: an mTLS request from the excluded namespace is not",
    policies: [["foo/allow-ns-not-foo", allowFrom({ notNamespaces: ["foo"] })]],
    expect: ["DENY", null, null],
  },
  // "the following source matches if the principal is "admin" or "dev" and the namespace is "prod" or "test" and the ip is not "203.0.113.4"."
  {
    name: "source fields are ANDed",
    policies: [["foo/p", allowFrom({ principals: [SLEEP], namespaces: ["bar"] })]],
    expect: ["DENY", null, null],
  },

  // --- IP blocks -----------------------------------------------------------------
  {
    name: "ipBlocks: in the CIDR",
    policies: [["foo/p", allowFrom({ ipBlocks: ["10.0.0.0/8"] })]],
    expect: ["ALLOW", "foo/p", 0],
  },
  {
    name: "ipBlocks: outside the CIDR",
    policies: [["foo/p", allowFrom({ ipBlocks: ["10.0.0.0/8"] })]],
    request: { sourceIp: "192.168.0.1" },
    expect: ["DENY", null, null],
  },
  // 'Single IP (e.g. "203.0.113.4") and CIDR (e.g. "203.0.113.0/24") are supported.'
  {
    name: "ipBlocks: a single address",
    policies: [["foo/p", allowFrom({ ipBlocks: ["10.0.0.1"] })]],
    expect: ["ALLOW", "foo/p", 0],
  },
  {
    name: "ipBlocks: a single address is /32",
    policies: [["foo/p", allowFrom({ ipBlocks: ["10.0.0.1"] })]],
    request: { sourceIp: "10.0.0.2" },
    expect: ["DENY", null, null],
  },
  {
    name: "notIpBlocks: excluded",
    policies: [["foo/p", allowFrom({ notIpBlocks: ["10.0.0.0/24"] })]],
    expect: ["DENY", null, null],
  },
  {
    name: "notIpBlocks: elsewhere",
    policies: [["foo/p", allowFrom({ notIpBlocks: ["10.0.0.0/24"] })]],
    request: { sourceIp: "10.0.1.1" },
    expect: ["ALLOW", "foo/p", 0],
  },
  {
    name: "ipBlocks: IPv6",
    policies: [["foo/p", allowFrom({ ipBlocks: ["2001:db8::/32"] })]],
    request: { sourceIp: "2001:db8:0:1::7" },
    expect: ["ALLOW", "foo/p", 0],
  },
  {
    name: "ipBlocks: an IPv4 range never holds an IPv6 source",
    policies: [["foo/p", allowFrom({ ipBlocks: ["0.0.0.0/0"] })]],
    request: { sourceIp: "::1" },
    expect: ["DENY", null, null],
  },
  {
    name: "ipBlocks hold without mTLS",
    policies: [["foo/p", allowFrom({ ipBlocks: ["10.0.0.0/8"] })]],
    request: plaintext,
    expect: ["ALLOW", "foo/p", 0],
  },

  // --- Operations ------------------------------------------------------------------
  {
    name: "methods: exact",
    policies: [["foo/p", allowTo({ methods: ["GET"] })]],
    expect: ["ALLOW", "foo/p", 0],
  },
  {
    name: "methods: another method",
    policies: [["foo/p", allowTo({ methods: ["GET"] })]],
    request: { method: "POST" },
    expect: ["DENY", null, null],
  },
  {
    name: "methods: prefix",
    policies: [["foo/p", allowTo({ methods: ["P*"] })]],
    request: { method: "PUT" },
    expect: ["ALLOW", "foo/p", 0],
  },
  {
    name: "methods: case-sensitive",
    policies: [["foo/p", allowTo({ methods: ["get"] })]],
    expect: ["DENY", null, null],
  },
  { name: "methods: *", policies: [["foo/p", allowTo({ methods: ["*"] })]], expect: ["ALLOW", "foo/p", 0] },
  {
    name: "notMethods: excluded",
    policies: [["foo/p", allowTo({ notMethods: ["DELETE"] })]],
    request: { method: "DELETE" },
    expect: ["DENY", null, null],
  },
  // paths match "request.url_path": without the query string.
  {
    name: "paths: exact, query ignored",
    policies: [["foo/p", allowTo({ paths: ["/info"] })]],
    request: { path: "/info?verbose=1" },
    expect: ["ALLOW", "foo/p", 0],
  },
  {
    name: "paths: prefix",
    policies: [["foo/p", allowTo({ paths: ["/api/*"] })]],
    request: { path: "/api/v1/users" },
    expect: ["ALLOW", "foo/p", 0],
  },
  {
    name: "paths: prefix is literal",
    policies: [["foo/p", allowTo({ paths: ["/api/*"] })]],
    request: { path: "/apis" },
    expect: ["DENY", null, null],
  },
  {
    name: "paths: suffix",
    policies: [["foo/p", allowTo({ paths: ["*.png"] })]],
    request: { path: "/img/logo.png" },
    expect: ["ALLOW", "foo/p", 0],
  },
  {
    name: "paths: case-sensitive",
    policies: [["foo/p", allowTo({ paths: ["/Info"] })]],
    expect: ["DENY", null, null],
  },
  { name: "paths: *", policies: [["foo/p", allowTo({ paths: ["*"] })]], expect: ["ALLOW", "foo/p", 0] },
  // 'the following operation matches if ... the path doesn't have prefix "/admin"' (notPaths: ["/admin*"])
  {
    name: "notPaths: excluded prefix",
    policies: [["foo/p", allowTo({ notPaths: ["/admin*"] })]],
    request: { path: "/admin/users" },
    expect: ["DENY", null, null],
  },
  // hosts: "The match is case-insensitive."
  {
    name: "hosts: case-insensitive",
    policies: [["foo/p", allowTo({ hosts: ["HTTPBIN.foo:8000"] })]],
    expect: ["ALLOW", "foo/p", 0],
  },
  // Istio matches the whole :authority; a host sent with a port needs "host:*" (Istio's host-match best practices).
  {
    name: "hosts: the port is not stripped",
    policies: [["foo/p", allowTo({ hosts: ["httpbin.foo"] })]],
    expect: ["DENY", null, null],
  },
  {
    name: "hosts: host:*",
    policies: [["foo/p", allowTo({ hosts: ["httpbin.foo:*"] })]],
    expect: ["ALLOW", "foo/p", 0],
  },
  // 'the following operation matches if the host has suffix ".example.com"' (hosts: ["*.example.com"])
  {
    name: "hosts: suffix",
    policies: [["foo/p", allowTo({ hosts: ["*.foo.svc.cluster.local"] })]],
    request: { host: "httpbin.foo.svc.cluster.local" },
    expect: ["ALLOW", "foo/p", 0],
  },
  {
    name: "notHosts: excluded",
    policies: [["foo/p", allowTo({ notHosts: ["*.example.com"] })]],
    request: { host: "api.example.com" },
    expect: ["DENY", null, null],
  },
  // ports: "A list of ports as specified in the connection."
  {
    name: "ports: the workload port",
    policies: [["foo/p", allowTo({ ports: ["8000"] })]],
    expect: ["ALLOW", "foo/p", 0],
  },
  {
    name: "ports: another port",
    policies: [["foo/p", allowTo({ ports: ["9000"] })]],
    expect: ["DENY", null, null],
  },
  {
    name: "notPorts: excluded",
    policies: [["foo/p", allowTo({ notPorts: ["8000"] })]],
    expect: ["DENY", null, null],
  },
  // "Fields in the operation are ANDed together."
  {
    name: "operation fields are ANDed",
    policies: [["foo/p", allowTo({ methods: ["GET"], paths: ["/data"] })]],
    expect: ["DENY", null, null],
  },
  // "A match occurs when at least one source, one operation and all conditions matches the request."
  {
    name: "operations are ORed",
    policies: [
      [
        "foo/p",
        { rules: [{ to: [{ operation: { methods: ["POST"] } }, { operation: { paths: ["/info"] } }] }] },
      ],
    ],
    expect: ["ALLOW", "foo/p", 0],
  },
  {
    name: "sources are ORed",
    policies: [
      [
        "foo/p",
        {
          rules: [
            {
              from: [
                { source: { principals: ["cluster.local/ns/bar/sa/x"] } },
                { source: { namespaces: ["foo"] } },
              ],
            },
          ],
        },
      ],
    ],
    expect: ["ALLOW", "foo/p", 0],
  },
  {
    name: "from and to are ANDed",
    policies: [
      [
        "foo/p",
        {
          rules: [
            { from: [{ source: { principals: [SLEEP] } }], to: [{ operation: { methods: ["POST"] } }] },
          ],
        },
      ],
    ],
    expect: ["DENY", null, null],
  },

  // --- Conditions ------------------------------------------------------------------
  {
    name: "request.headers: value, name case-insensitive",
    policies: [["foo/p", allowWhen({ key: "request.headers[X-Token]", values: ["abc"] })]],
    request: { headers: { "x-token": "abc" } },
    expect: ["ALLOW", "foo/p", 0],
  },
  {
    name: "request.headers: an absent header matches no value",
    policies: [["foo/p", allowWhen({ key: "request.headers[x-token]", values: ["abc"] })]],
    expect: ["DENY", null, null],
  },
  {
    name: "request.headers: notValues hold for an absent header",
    policies: [["foo/p", allowWhen({ key: "request.headers[x-token]", notValues: ["bad"] })]],
    expect: ["ALLOW", "foo/p", 0],
  },
  {
    name: "request.headers: notValues exclude",
    policies: [["foo/p", allowWhen({ key: "request.headers[x-token]", notValues: ["bad"] })]],
    request: { headers: { "x-token": "bad" } },
    expect: ["DENY", null, null],
  },
  {
    // Istio writes "*" on a header as Envoy's present_match.
    name: "request.headers: * is presence, even empty",
    policies: [["foo/p", allowWhen({ key: "request.headers[x-token]", values: ["*"] })]],
    request: { headers: { "x-token": "" } },
    expect: ["ALLOW", "foo/p", 0],
  },
  {
    name: "request.headers: prefix",
    policies: [["foo/p", allowWhen({ key: "request.headers[authorization]", values: ["Bearer *"] })]],
    request: { headers: { Authorization: "Bearer xyz" } },
    expect: ["ALLOW", "foo/p", 0],
  },
  {
    name: "values and notValues of one key are ANDed",
    policies: [
      ["foo/p", allowWhen({ key: "request.headers[x-env]", values: ["prod*"], notValues: ["prod-eu"] })],
    ],
    request: { headers: { "x-env": "prod-eu" } },
    expect: ["DENY", null, null],
  },
  {
    name: "source.ip: CIDR",
    policies: [["foo/p", allowWhen({ key: "source.ip", values: ["10.0.0.0/16"] })]],
    expect: ["ALLOW", "foo/p", 0],
  },
  {
    name: "remote.ip: the source address without trusted proxies",
    policies: [["foo/p", allowWhen({ key: "remote.ip", values: ["10.0.0.1"] })]],
    expect: ["ALLOW", "foo/p", 0],
  },
  {
    name: "remote.ip: from X-Forwarded-For when the proxy knows it",
    policies: [["foo/p", allowWhen({ key: "remote.ip", values: ["10.0.0.1"] })]],
    request: { remoteIp: "203.0.113.4" },
    expect: ["DENY", null, null],
  },
  {
    name: "source.namespace: with mTLS",
    policies: [["foo/p", allowWhen({ key: "source.namespace", values: ["foo"] })]],
    expect: ["ALLOW", "foo/p", 0],
  },
  {
    name: "source.namespace: never with plaintext",
    policies: [["foo/p", allowWhen({ key: "source.namespace", values: ["foo"] })]],
    request: plaintext,
    expect: ["DENY", null, null],
  },
  {
    name: "source.principal: notValues hold for plaintext",
    policies: [["foo/p", allowWhen({ key: "source.principal", notValues: [SLEEP] })]],
    request: plaintext,
    expect: ["ALLOW", "foo/p", 0],
  },
  {
    name: "destination.ip",
    policies: [["foo/p", allowWhen({ key: "destination.ip", values: ["10.0.1.0/24"] })]],
    expect: ["ALLOW", "foo/p", 0],
  },
  {
    name: "destination.port: notValues",
    policies: [["foo/p", allowWhen({ key: "destination.port", notValues: ["8000"] })]],
    expect: ["DENY", null, null],
  },
  {
    name: "connection.sni: suffix",
    policies: [["foo/p", allowWhen({ key: "connection.sni", values: ["*.httpbin.foo.svc.cluster.local"] })]],
    expect: ["ALLOW", "foo/p", 0],
  },
  {
    name: "conditions are ANDed",
    policies: [
      [
        "foo/p",
        allowWhen({ key: "source.ip", values: ["10.0.0.1"] }, { key: "request.headers[x-a]", values: ["1"] }),
      ],
    ],
    expect: ["DENY", null, null],
  },

  // --- TCP -------------------------------------------------------------------------
  {
    // Istio drops an ALLOW rule with HTTP-only fields from a TCP filter chain.
    name: "TCP: an ALLOW rule with HTTP fields never matches",
    policies: [["foo/p", allowTo({ methods: ["GET"], ports: ["8000"] })]],
    request: { protocol: "TCP" },
    expect: ["DENY", null, null],
  },
  {
    name: "TCP: an ALLOW rule without HTTP fields matches",
    policies: [["foo/p", allowTo({ ports: ["8000"] })]],
    request: { protocol: "TCP" },
    expect: ["ALLOW", "foo/p", 0],
  },
  // "For a DENY rule, missing attributes are treated as matches. This means all TCP traffic on port 8080 would be denied"
  {
    name: "TCP: a DENY rule ignores its HTTP fields",
    policies: [
      ["foo/p", { action: "DENY", rules: [{ to: [{ operation: { methods: ["POST"], ports: ["8000"] } }] }] }],
    ],
    request: { protocol: "TCP" },
    expect: ["DENY", "foo/p", 0],
  },
  // "If we were to remove the ports match, all TCP traffic would be denied."
  {
    name: "TCP: a DENY rule with only HTTP fields denies all TCP",
    policies: [["foo/p", { action: "DENY", rules: [{ to: [{ operation: { paths: ["/admin*"] } }] }] }]],
    request: { protocol: "TCP" },
    expect: ["DENY", "foo/p", 0],
  },
  {
    name: "TCP: a DENY rule ignores header conditions",
    policies: [
      ["foo/p", { action: "DENY", rules: [{ when: [{ key: "request.headers[x-a]", values: ["1"] }] }] }],
    ],
    request: { protocol: "TCP" },
    expect: ["DENY", "foo/p", 0],
  },
];

function policyObject([key, spec]: Policy): AuthorizationPolicy {
  const [namespace, name] = key.split("/");
  return {
    apiVersion: "skiff.dev/v1alpha1",
    kind: "AuthorizationPolicy",
    metadata: { namespace, name },
    spec,
  };
}

describe("authorize: Istio's authorization semantics", () => {
  it("has at least 60 cases", () => assert.ok(CASES.length >= 60, `${CASES.length} cases`));

  for (const c of CASES) {
    it(c.name, () => {
      const objects = c.policies.map(policyObject);
      for (const o of objects)
        assert.deepEqual(authorizationPolicyIssues(o), [], `${o.metadata.name} is valid`);
      const models = objects.map((o) => authorizationPolicyModel(o, ROOT));
      const request = { ...REQUEST, ...c.request };
      if ("principal" in (c.request ?? {}) && c.request?.principal === undefined) delete request.principal;
      const result = authorize(models, ROOT, c.workload ?? WORKLOAD, request);
      assert.deepEqual(
        [result.decision, result.policy, result.rule],
        c.expect,
        `${result.decision} ${result.policy} ${result.rule}: ${result.reason}`,
      );
      if (c.audited) assert.deepEqual(result.audited, c.audited);
    });
  }

  it("explains a default deny by naming the ALLOW policies", () => {
    const models = [policyObject(["foo/allow-nothing", {}])].map((o) => authorizationPolicyModel(o, ROOT));
    const result = authorize(models, ROOT, WORKLOAD, REQUEST);
    assert.match(result.reason, /foo\/allow-nothing/);
  });
});

describe("compile: AuthorizationPolicy models", () => {
  it("keeps an absent rules list distinct from rules: [{}]", () => {
    assert.deepEqual(authorizationPolicyModel(policyObject(["foo/a", {}]), ROOT).rules, {
      kind: "MatchNothing",
    });
    assert.deepEqual(authorizationPolicyModel(policyObject(["foo/a", allowAll]), ROOT).rules, {
      kind: "Rules",
      rules: [{ index: 0, from: [], to: [], when: [] }],
    });
  });

  it("scopes by namespace and selector", () => {
    const scope = (key: string, spec: AuthorizationPolicySpec) =>
      authorizationPolicyModel(policyObject([key, spec]), ROOT).scope;
    assert.deepEqual(scope("foo/a", {}), { kind: "Namespace" });
    assert.deepEqual(scope("istio-system/a", {}), { kind: "Mesh" });
    assert.deepEqual(scope("foo/a", { selector: { matchLabels: { app: "x" } } }), {
      kind: "Workload",
      matchLabels: { app: "x" },
    });
  });

  it("parses values, addresses, ports and condition keys", () => {
    const model = authorizationPolicyModel(
      policyObject([
        "foo/a",
        {
          rules: [
            {
              from: [{ source: { principals: ["a*", "*b", "*", "c"], ipBlocks: ["10.0.0.1", "fd00::/8"] } }],
              to: [{ operation: { ports: ["80"] } }],
              when: [
                { key: "request.headers[X-A]", values: ["1"] },
                { key: "destination.port", notValues: ["9"] },
              ],
            },
          ],
        },
      ]),
      ROOT,
    );
    assert.deepEqual(model.rules, {
      kind: "Rules",
      rules: [
        {
          index: 0,
          from: [
            {
              principals: [
                { kind: "Prefix", prefix: "a" },
                { kind: "Suffix", suffix: "b" },
                { kind: "Present" },
                { kind: "Exact", value: "c" },
              ],
              ipBlocks: [
                { address: "10.0.0.1", prefixLength: 32 },
                { address: "fd00::", prefixLength: 8 },
              ],
            },
          ],
          to: [{ ports: [80] }],
          when: [
            { kind: "RequestHeader", name: "x-a", values: [{ kind: "Exact", value: "1" }] },
            { kind: "DestinationPort", notValues: [9] },
          ],
        },
      ],
    });
  });

  // The API server checks these with CEL; simulate and compile check them offline.
  for (const fixture of invalidFixtures().filter(
    (f) =>
      !f.rejectedOffline &&
      (f.object.kind === "AuthorizationPolicy" || f.object.kind === "PeerAuthentication"),
  )) {
    it(`finds the CEL problem of ${fixture.file} at ${fixture.field}`, () => {
      const issues = securityIssues(fixture.object);
      assert.ok(
        issues.some((i) => i.field === fixture.field && i.message.includes(fixture.message)),
        `expected ${fixture.field}: ${fixture.message}, got ${JSON.stringify(issues)}`,
      );
    });
  }
});

describe("mtlsWarnings: identities on a workload without mTLS", () => {
  const model = (spec: AuthorizationPolicySpec) =>
    authorizationPolicyModel(policyObject(["foo/p", spec]), ROOT);

  it("says a rule that needs principals never matches under DISABLE", () => {
    const warnings = mtlsWarnings(model(allowFrom({ principals: [SLEEP] })), "DISABLE");
    assert.deepEqual(warnings, [
      {
        reason: "PrincipalsWithoutMtls",
        rule: 0,
        message: "principals are used but the workload is not under mTLS, so this rule never matches",
      },
    ]);
  });

  it("covers namespaces and source.* conditions", () => {
    assert.equal(
      mtlsWarnings(model(allowFrom({ namespaces: ["foo"] })), "DISABLE")[0]?.reason,
      "PrincipalsWithoutMtls",
    );
    assert.equal(
      mtlsWarnings(model(allowWhen({ key: "source.namespace", values: ["foo"] })), "DISABLE")[0]?.reason,
      "PrincipalsWithoutMtls",
    );
  });

  it("names the one source that never matches when others can", () => {
    const warnings = mtlsWarnings(
      model({
        rules: [{ from: [{ source: { ipBlocks: ["10.0.0.0/8"] } }, { source: { principals: [SLEEP] } }] }],
      }),
      "DISABLE",
    );
    assert.deepEqual(
      warnings.map((w) => w.message),
      ["principals are used in from[1] but the workload is not under mTLS, so that source never matches"],
    );
  });

  it("says notPrincipals match every request under DISABLE", () => {
    assert.deepEqual(
      mtlsWarnings(model(allowFrom({ notPrincipals: [SLEEP] })), "DISABLE").map((w) => w.reason),
      ["NotPrincipalsWithoutMtls"],
    );
  });

  it("is quiet under PERMISSIVE and STRICT, and for rules without identities", () => {
    assert.deepEqual(mtlsWarnings(model(allowFrom({ principals: [SLEEP] })), "PERMISSIVE"), []);
    assert.deepEqual(mtlsWarnings(model(allowFrom({ principals: [SLEEP] })), "STRICT"), []);
    assert.deepEqual(mtlsWarnings(model(allowFrom({ ipBlocks: ["10.0.0.0/8"] })), "DISABLE"), []);
  });
});
