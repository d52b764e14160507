import assert from "node:assert/strict";
import { compileSecurity } from "../../../src/compile/security.js";
import type { AdmissionRequest } from "../../../src/webhook/admission.js";
import { validateAuthorizationPolicy as validate } from "../../../src/webhook/validate-authorizationpolicy.js";

/** The decision, read as one shape (a refusal's code and message are absent when it allows). */
const validateAuthorizationPolicy = (request: AdmissionRequest) =>
  validate(request) as { allowed: boolean; code?: number; message?: string };

/**
 * The webhook's half of AuthorizationPolicy admission: `when` values whose
 * syntax depends on the key, which the CRD cannot check within the API
 * server's CEL cost budget (src/api/v1alpha1/authorization-values.ts).
 * Without it, compile finds such a policy invalid and leaves it out, so a
 * DENY policy the API server stored denies nothing.
 */

const policy = (key: string, values: string[], notValues?: string[]) => ({
  apiVersion: "skiff.dev/v1alpha1",
  kind: "AuthorizationPolicy",
  metadata: { name: "p", namespace: "bookinfo" },
  spec: { action: "DENY", rules: [{ when: [{ key, values, ...(notValues ? { notValues } : {}) }] }] },
});
const review = (operation: "CREATE" | "UPDATE", object: unknown, oldObject?: unknown): AdmissionRequest => ({
  uid: "u",
  kind: { group: "skiff.dev", version: "v1alpha1", kind: "AuthorizationPolicy" },
  namespace: "bookinfo",
  operation,
  object,
  ...(oldObject ? { oldObject } : {}),
});

const PORT = "must be a port number from 1 to 65535";
const IP = "must be an IP address such as 10.1.2.3 or a CIDR such as 10.0.0.0/16";
const NAMESPACE =
  "must be an exact value, prefix*, *suffix or * alone, with a namespace name: lowercase letters, digits and '-', at most 63 characters";
const ASCII =
  "must be an exact value, prefix*, *suffix or * alone, with printable ASCII without spaces (hosts and SPIFFE identities are ASCII)";
const HEADER =
  "the header name in request.headers[<name>] must be an HTTP token (letters, digits and !#$%&'*+-.^_`|~) or one of the pseudo-headers :authority, :method and :path";

describe("validateAuthorizationPolicy: when values by key", () => {
  const refused: [key: string, value: string, message: string][] = [
    ["destination.port", "http", PORT],
    ["destination.port", "0", PORT],
    ["destination.port", "65536", PORT],
    ["source.ip", "300.0.0.0/8", IP],
    ["remote.ip", "10.0.0.0/33", IP],
    ["destination.ip", "10.0.0.0/08", IP],
    ["source.ip", "::ffff:10.0.0.1", IP],
    ["remote.ip", "::ffff:0:0/96", IP],
    ["source.namespace", "*o/sa", NAMESPACE],
    ["source.namespace", "Bookinfo", NAMESPACE],
    ["source.namespace", "n".repeat(64), NAMESPACE],
    ["source.principal", "*/sa/\u00e9t\u00e9", ASCII],
    ["source.principal", "cluster.local/ns/a/sa/b c", ASCII],
    ["connection.sni", "\u212Aey.example.com", ASCII],
  ];
  for (const [key, value, message] of refused) {
    it(`refuses ${key} ${JSON.stringify(value)}, naming the field`, () => {
      assert.deepEqual(validateAuthorizationPolicy(review("CREATE", policy(key, [value]))), {
        allowed: false,
        code: 422,
        message: `spec.rules[0].when[0].values[0]: ${message}`,
      });
      // In notValues too, and the field names the value's place in its list.
      const negated = validateAuthorizationPolicy(
        review("CREATE", policy(key, [value === "0" ? "1" : "9080"], ["10", value])),
      );
      assert.ok(negated.message?.endsWith(`spec.rules[0].when[0].notValues[1]: ${message}`), negated.message);
    });
  }

  for (const name of ["x\ny", "x\u0000y", "x y", "x\u00e9", ":scheme", ":status", ":Path"])
    it(`refuses the header name ${JSON.stringify(name)} in request.headers[...]`, () => {
      const decision = validateAuthorizationPolicy(
        review("CREATE", policy(`request.headers[${name}]`, ["v"])),
      );
      assert.equal(decision.message, `spec.rules[0].when[0].key: ${HEADER}`);
    });

  const taken: [key: string, value: string][] = [
    ["destination.port", "9080"],
    ["source.ip", "10.0.0.1/8"],
    ["source.namespace", "team-*"],
    ["source.namespace", "*"],
    ["source.principal", "cluster.local/ns/bookinfo/sa/*"],
    ["connection.sni", "*.example.com"],
    ["request.headers[x-user]", "*"],
    ["request.headers[host]", "api.*"],
    ["request.headers[:authority]", "api.*"],
    ["request.headers[:method]", "GET"],
    ["request.headers[:path]", "/api/*"],
  ];
  for (const [key, value] of taken)
    it(`takes ${key} ${JSON.stringify(value)}`, () => {
      assert.deepEqual(validateAuthorizationPolicy(review("CREATE", policy(key, [value]))), {
        allowed: true,
      });
    });

  it("compile keeps a stored policy with a value admission now refuses, and leaves out one it cannot model", () => {
    const stored = (key: string, value: string) => ({
      ...policy(key, [value]),
      metadata: { name: key, namespace: "bookinfo", creationTimestamp: "2026-01-01T00:00:00Z" },
    });
    const { model, findings } = compileSecurity({
      peerAuthentications: [],
      authorizationPolicies: [
        stored("source.namespace", "*o/sa"),
        stored("request.headers[:scheme]", "http"),
        stored("destination.port", "http"),
      ] as never,
    });
    // An upgrade must not drop a policy that was enforced: a dropped ALLOW policy can open its workload.
    assert.deepEqual(
      model.authorizationPolicies.map((p) => p.source.name),
      ["request.headers[:scheme]", "source.namespace"],
    );
    assert.deepEqual(
      findings.map((f) => [f.source.name, f.findings[0]?.reason]),
      [
        ["destination.port", "Invalid"],
        ["request.headers[:scheme]", "Accepted"],
        ["source.namespace", "Accepted"],
      ],
    );
  });

  it("lets an update keep a value the stored policy already had, and refuses a new one", () => {
    const stored = policy("destination.port", ["http"]);
    assert.deepEqual(validateAuthorizationPolicy(review("UPDATE", stored, stored)), { allowed: true });
    const worse = policy("destination.port", ["http"], ["0"]);
    assert.equal(
      validateAuthorizationPolicy(review("UPDATE", worse, stored)).message,
      `spec.rules[0].when[0].notValues[0]: ${PORT}`,
    );
  });
});
