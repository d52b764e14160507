import assert from "node:assert/strict";
import type { AuthorizationPolicySpec } from "../../../src/api/v1alpha1/generated/authorizationpolicy.js";
import { validateObject } from "../../../src/api/v1alpha1/validate.js";
import { authorizationPolicyModel, securityIssues } from "../../../src/compile/security.js";
import { authorize } from "../../../src/policy/authorization.js";
import { rbacFilters } from "../../../src/xds/translate/authorization.js";
import { evaluatorRequest, type GeneratedRequest } from "../../support/arbitrary-authorization.js";
import { EnvoyRbacOracle, type EnvoyVerdict } from "../../support/envoy-rbac-oracle.js";
import { portsFreeOn } from "../../support/free-ports.js";

/**
 * AuthorizationPolicy values at the edges of what admission takes
 * (src/api/v1alpha1/authorization-values.ts), each a DENY rule and one
 * request, decided by the evaluator (what `skiff simulate` says) and by real
 * Envoy on our translation (test/support/envoy-rbac-oracle.ts):
 *
 * - values admission takes: both must decide alike;
 * - values admission refuses because Envoy decides them unlike the
 *   evaluator: admission must refuse each, and the two must still differ
 *   (when they stop differing, the refusal can go).
 */

const ROOT = "skiff-system";
const WORKLOAD = { namespace: "bookinfo", labels: { app: "reviews" } };
const DESTINATION = "127.1.2.10";
const PRINCIPAL = "cluster.local/ns/foo/sa/bar";

interface EdgeCase {
  readonly name: string;
  readonly spec: AuthorizationPolicySpec;
  readonly request: Partial<GeneratedRequest>;
}

const deny = (rule: NonNullable<AuthorizationPolicySpec["rules"]>[number]): AuthorizationPolicySpec => ({
  action: "DENY",
  rules: [rule],
});
const when = (key: string, values: string[]) => deny({ when: [{ key, values }] });

/** Taken, and decided alike: each case's DENY rule matches its request. */
const TAKEN: readonly EdgeCase[] = [
  {
    name: "request.headers[host] is Envoy's :authority",
    spec: when("request.headers[host]", ["rev*"]),
    request: {},
  },
  { name: "request.headers[Host], any case", spec: when("request.headers[Host]", ["*"]), request: {} },
  {
    name: "request.headers[:authority]",
    spec: when("request.headers[:authority]", ["reviews"]),
    request: {},
  },
  {
    name: "request.headers[:method]",
    spec: when("request.headers[:method]", ["PUT"]),
    request: { method: "PUT" },
  },
  {
    name: "request.headers[:path] holds the query string",
    spec: when("request.headers[:path]", ["*?debug=1"]),
    request: { path: "/a?debug=1" },
  },
  {
    name: "hosts fold ASCII case",
    spec: deny({ to: [{ operation: { hosts: ["REVIEWS"] } }] }),
    request: {},
  },
  {
    name: "an ipBlock with host bits set is its network",
    spec: deny({ from: [{ source: { ipBlocks: ["127.1.2.99/24"] } }] }),
    request: {},
  },
  {
    name: "a namespace suffix",
    spec: deny({ from: [{ source: { namespaces: ["*oo"] } }] }),
    request: { principal: PRINCIPAL },
  },
];

/** Refused, because Envoy and the evaluator decide them differently. */
const REFUSED: readonly (EdgeCase & { field: string })[] = [
  {
    name: "a host with the Kelvin sign, which Unicode folds to k and Envoy does not",
    spec: deny({ to: [{ operation: { hosts: ["\u212Aey"] } }] }),
    request: { host: "key" },
    field: "spec.rules[0].to[0].operation.hosts[0]",
  },
  {
    name: "a namespace with a /, which Envoy's regex matches across the SPIFFE URI",
    spec: deny({ from: [{ source: { namespaces: ["*o/sa"] } }] }),
    request: { principal: PRINCIPAL },
    field: "spec.rules[0].from[0].source.namespaces[0]",
  },
  {
    name: "request.headers[:scheme], which simulate's requests do not say",
    spec: when("request.headers[:scheme]", ["http"]),
    request: {},
    field: "spec.rules[0].when[0].key",
  },
];

const object = (spec: AuthorizationPolicySpec) => ({
  apiVersion: "skiff.dev/v1alpha1",
  kind: "AuthorizationPolicy",
  metadata: { name: "edge", namespace: WORKLOAD.namespace },
  spec,
});
const model = (spec: AuthorizationPolicySpec) => authorizationPolicyModel(object(spec) as never, ROOT);

describe("AuthorizationPolicy edge values: the evaluator and real Envoy", function () {
  this.timeout(300_000); // the first run fetches Envoy
  const cases = [...TAKEN, ...REFUSED];
  let requests: GeneratedRequest[];
  let verdicts: EnvoyVerdict[];

  before(async () => {
    const ports = await portsFreeOn([DESTINATION], cases.length * 3);
    requests = cases.map((c, i) => ({
      protocol: "HTTP",
      principal: null,
      sourceIp: "127.1.2.3",
      destinationIp: DESTINATION,
      port: ports[3 * i]!,
      host: "reviews",
      method: "GET",
      path: "/",
      headers: {},
      ...c.request,
    }));
    const oracle = await EnvoyRbacOracle.start(
      cases.map((c, i) => ({
        protocol: "HTTP",
        ports: ports.slice(3 * i, 3 * i + 3),
        filters: rbacFilters([model(c.spec)], { trustDomain: "cluster.local", protocol: "HTTP" }),
      })),
      { destinationIps: [DESTINATION], principals: [PRINCIPAL] },
    );
    try {
      verdicts = await oracle.ask(requests);
    } finally {
      await oracle.stop();
    }
  });

  const decisions = (i: number) => ({
    evaluator: authorize([model(cases[i]!.spec)], ROOT, WORKLOAD, evaluatorRequest(requests[i]!)).decision,
    envoy: verdicts[i]!.allowed ? "ALLOW" : "DENY",
  });

  TAKEN.forEach((c, i) => {
    it(`takes ${c.name}, and both deny the request`, () => {
      assert.deepEqual([...validateObject(object(c.spec)), ...securityIssues(object(c.spec))], []);
      assert.deepEqual(decisions(i), { evaluator: "DENY", envoy: "DENY" });
    });
  });

  REFUSED.forEach((c, j) => {
    it(`refuses ${c.name}: the two would decide differently`, () => {
      const issues = [...validateObject(object(c.spec)), ...securityIssues(object(c.spec))];
      assert.ok(
        issues.some((issue) => issue.field === c.field),
        `expected an issue at ${c.field}: ${JSON.stringify(issues)}`,
      );
      const { evaluator, envoy } = decisions(TAKEN.length + j);
      assert.notEqual(evaluator, envoy);
    });
  });
});
