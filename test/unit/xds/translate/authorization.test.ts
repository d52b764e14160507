import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { JsonObject } from "@bufbuild/protobuf";
import { parseAllDocuments } from "yaml";
import type { AuthorizationPolicy } from "../../../../src/api/v1alpha1/generated/authorizationpolicy.js";
import { compileSecurity } from "../../../../src/compile/security.js";
import type { AuthorizationPolicyModel } from "../../../../src/ir/security.js";
import { encodeJson } from "../../../../src/xds/protos/registry.js";
import { rbacFilters, rbacPolicy } from "../../../../src/xds/translate/authorization.js";
import { envoyViolationsOfMany } from "../../../support/envoy-validator.js";
import { generatedYaml, GoldenFolder } from "../../../support/golden.js";

/**
 * Golden tests for AuthorizationPolicy -> Envoy RBAC: the AuthorizationPolicy
 * objects of each in/<case>.yaml, compiled by compileSecurity, must translate
 * to exactly out/<case>.rbac.yaml (the HTTP and the TCP filters).
 * UPDATE_GOLDEN=1 rewrites the outputs (test/support/golden.ts). Every typed_config must pass Envoy's
 * proto validation and encode to protobuf.
 */
const DATA = join(import.meta.dirname, "..", "..", "..", "testdata", "authorization");
const cases = readdirSync(join(DATA, "in"))
  .filter((f) => f.endsWith(".yaml"))
  .map((f) => basename(f, ".yaml"))
  .sort();

function policiesOf(name: string): AuthorizationPolicyModel[] {
  const objects = parseAllDocuments(readFileSync(join(DATA, "in", `${name}.yaml`), "utf8"))
    .map((d) => d.toJS() as AuthorizationPolicy | null)
    .filter((o): o is AuthorizationPolicy => o?.kind === "AuthorizationPolicy");
  const { model, findings } = compileSecurity({ peerAuthentications: [], authorizationPolicies: objects });
  const rejected = findings.filter((f) => f.findings.some((c) => c.status !== "True"));
  assert.deepEqual(rejected, [], `${name}: every input policy must be valid`);
  return [...model.authorizationPolicies];
}

function translateCase(name: string): { http: JsonObject[]; tcp: JsonObject[] } {
  const policies = policiesOf(name);
  return {
    http: rbacFilters(policies, { trustDomain: "cluster.local", protocol: "HTTP" }),
    tcp: rbacFilters(policies, { trustDomain: "cluster.local", protocol: "TCP" }),
  };
}

const render = (value: unknown) => generatedYaml(value, "test/unit/xds/translate/authorization.test.ts");
const golden = new GoldenFolder(join(DATA, "out"));

/** The filter's typed_config as the message it names: its full name and its fields without @type. */
function message(filter: JsonObject): { typeName: string; json: JsonObject } {
  const { "@type": type, ...json } = filter.typed_config as JsonObject;
  return { typeName: String(type).replace("type.googleapis.com/", ""), json };
}

describe("AuthorizationPolicy to Envoy RBAC golden files", () => {
  const outputs = new Map(cases.map((name) => [name, translateCase(name)]));

  it("has at least 10 cases", () => assert.ok(cases.length >= 10, `${cases.length} cases`));

  for (const name of cases) {
    it(`${name}: matches its golden file`, () => {
      golden.check(`${name}.rbac.yaml`, render(outputs.get(name)));
    });
  }

  it("has no golden file that no case renders", () =>
    golden.checkNothingElse(cases.map((name) => `${name}.rbac.yaml`)));

  it("is deterministic: policies in any order give identical output", () => {
    for (const name of cases) {
      const policies = policiesOf(name).reverse();
      for (const protocol of ["HTTP", "TCP"] as const) {
        const filters = rbacFilters(policies, { trustDomain: "cluster.local", protocol });
        const expected = outputs.get(name)![protocol === "HTTP" ? "http" : "tcp"];
        assert.equal(JSON.stringify(filters), JSON.stringify(expected), `${name} ${protocol}`);
      }
    }
  });

  it("every typed_config encodes to protobuf", () => {
    for (const [name, { http, tcp }] of outputs)
      for (const filter of [...http, ...tcp]) {
        const { typeName, json } = message(filter);
        assert.doesNotThrow(() => encodeJson(typeName, json), name);
      }
  });

  it("every typed_config passes Envoy's proto validation (go-control-plane ValidateAll)", function () {
    this.timeout(300_000);
    const items = [...outputs].flatMap(([name, { http, tcp }]) =>
      [...http, ...tcp].map((filter, i) => {
        const { typeName, json } = message(filter);
        return { label: `${name} #${i} ${typeName}`, typeName, json: JSON.stringify(json) };
      }),
    );
    assert.ok(
      items.some((i) => i.typeName.includes(".http.")) && items.some((i) => i.typeName.includes(".network.")),
    );
    assert.deepEqual(envoyViolationsOfMany(items), []);
  });
});

describe("AuthorizationPolicy to Envoy RBAC: failing closed", () => {
  const rule = {
    index: 0,
    from: [{ ipBlocks: [{ address: "not-an-ip", prefixLength: 8 }] }],
    to: [],
    when: [],
  };
  const matchAll = { permissions: [{ any: true }], principals: [{ any: true }] };

  it("drops an ALLOW rule it cannot translate", () => {
    assert.equal(rbacPolicy(rule, "ALLOW", false), undefined);
  });

  it("turns a DENY or AUDIT rule it cannot translate into match-all", () => {
    assert.deepEqual(rbacPolicy(rule, "DENY", false), matchAll);
    assert.deepEqual(rbacPolicy({ ...rule, from: [], to: [{ ports: [70000] }] }, "DENY", true), matchAll);
    assert.deepEqual(rbacPolicy(rule, "AUDIT", false), matchAll);
  });

  it("never lets an untranslatable ALLOW rule widen the ALLOW filter", () => {
    const policy: AuthorizationPolicyModel = {
      source: { namespace: "ns", name: "p", generation: 1 },
      action: "ALLOW",
      scope: { kind: "Namespace" },
      rules: { kind: "Rules", rules: [rule] },
    };
    const [filter] = rbacFilters([policy], { trustDomain: "cluster.local", protocol: "HTTP" });
    assert.deepEqual((filter!.typed_config as JsonObject).rules, { action: "ALLOW", policies: {} });
  });
});
