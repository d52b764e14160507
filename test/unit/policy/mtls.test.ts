import assert from "node:assert/strict";
import type { IPod } from "kubernetes-models/v1";
import type { AuthorizationPolicy } from "../../../src/api/v1alpha1/generated/authorizationpolicy.js";
import type {
  PeerAuthentication,
  PeerAuthenticationSpec,
} from "../../../src/api/v1alpha1/generated/peerauthentication.js";
import { compileSecurity, peerAuthenticationModel } from "../../../src/compile/security.js";
import type { EffectiveMtlsMode } from "../../../src/ir/security.js";
import { effectiveMtls, mtlsDecision, servedMtlsMode } from "../../../src/policy/mtls.js";

/*
 * PeerAuthentication precedence, as Istio composes it
 * (ComposePeerAuthentication, pilot/pkg/security/authn): "It should have the
 * setting from the most narrow scope (i.e workload-level is preferred over
 * namespace-level, which is preferred over mesh-level)", "When there are more
 * than one policy in the same scope (i.e workload-level), the oldest one win",
 * "UNSET will be replaced with the setting from the parent", and
 * "Workload-level configs should not be in root namespace".
 */

const ROOT = "skiff-system";
const WORKLOAD = { namespace: "foo", labels: { app: "httpbin", version: "v1" } };

/** `namespace/name`, spec, and an optional creation time (minutes). */
type Pa = [string, PeerAuthenticationSpec, number?];

function paObject([key, spec, minute = 0]: Pa): PeerAuthentication {
  const [namespace, name] = key.split("/");
  return {
    apiVersion: "skiff.dev/v1alpha1",
    kind: "PeerAuthentication",
    metadata: {
      namespace,
      name,
      creationTimestamp: `2025-01-01T00:${String(minute).padStart(2, "0")}:00Z`,
    },
    spec,
  };
}

const strict = { mtls: { mode: "STRICT" as const } };
const permissive = { mtls: { mode: "PERMISSIVE" as const } };
const disable = { mtls: { mode: "DISABLE" as const } };
const unset = { mtls: { mode: "UNSET" as const } };
const httpbin = { selector: { matchLabels: { app: "httpbin" } } };

interface Case {
  name: string;
  policies: Pa[];
  port?: number;
  meshDefault?: EffectiveMtlsMode;
  workload?: { namespace: string; labels: Record<string, string> };
  expect: EffectiveMtlsMode;
  /** The deciding policy and level, when the case pins them. */
  decidedBy?: [string | null, string];
}

const CASES: Case[] = [
  {
    name: "no policy: the Mesh default, PERMISSIVE",
    policies: [],
    expect: "PERMISSIVE",
    decidedBy: [null, "Default"],
  },
  { name: "no policy: a STRICT Mesh default", policies: [], meshDefault: "STRICT", expect: "STRICT" },
  {
    name: "mesh level",
    policies: [["skiff-system/default", strict]],
    expect: "STRICT",
    decidedBy: ["skiff-system/default", "Mesh"],
  },
  {
    name: "the namespace overrides the mesh",
    policies: [
      ["skiff-system/default", strict],
      ["foo/default", permissive],
    ],
    expect: "PERMISSIVE",
    decidedBy: ["foo/default", "Namespace"],
  },
  {
    name: "the workload overrides the namespace",
    policies: [
      ["foo/default", strict],
      ["foo/httpbin", { ...httpbin, ...disable }],
    ],
    expect: "DISABLE",
    decidedBy: ["foo/httpbin", "Workload"],
  },
  {
    name: "the workload overrides the mesh",
    policies: [
      ["skiff-system/default", disable],
      ["foo/httpbin", { ...httpbin, ...strict }],
    ],
    expect: "STRICT",
  },
  {
    name: "UNSET at the namespace inherits the mesh",
    policies: [
      ["skiff-system/default", strict],
      ["foo/default", unset],
    ],
    expect: "STRICT",
    decidedBy: ["skiff-system/default", "Mesh"],
  },
  {
    name: "no mtls at all is UNSET",
    policies: [
      ["skiff-system/default", strict],
      ["foo/default", {}],
    ],
    expect: "STRICT",
  },
  {
    name: "UNSET at the workload inherits the namespace",
    policies: [
      ["foo/default", disable],
      ["foo/httpbin", { ...httpbin, ...unset }],
    ],
    expect: "DISABLE",
    decidedBy: ["foo/default", "Namespace"],
  },
  {
    name: "UNSET everywhere: the Mesh default",
    policies: [
      ["skiff-system/default", unset],
      ["foo/default", unset],
      ["foo/httpbin", { ...httpbin, ...unset }],
    ],
    meshDefault: "STRICT",
    expect: "STRICT",
    decidedBy: [null, "Default"],
  },
  {
    name: "portLevelMtls overrides at its port",
    policies: [["foo/httpbin", { ...httpbin, ...strict, portLevelMtls: { "8080": { mode: "DISABLE" } } }]],
    port: 8080,
    expect: "DISABLE",
    decidedBy: ["foo/httpbin", "Port"],
  },
  {
    name: "portLevelMtls leaves other ports alone",
    policies: [["foo/httpbin", { ...httpbin, ...strict, portLevelMtls: { "8080": { mode: "DISABLE" } } }]],
    port: 9080,
    expect: "STRICT",
  },
  {
    name: "portLevelMtls without a port asked for",
    policies: [["foo/httpbin", { ...httpbin, ...strict, portLevelMtls: { "8080": { mode: "DISABLE" } } }]],
    expect: "STRICT",
  },
  {
    // "Unset mode at port level defaults to workload level."
    name: "portLevelMtls UNSET inherits the workload's mode",
    policies: [
      ["foo/default", permissive],
      ["foo/httpbin", { ...httpbin, ...strict, portLevelMtls: { "8080": { mode: "UNSET" } } }],
    ],
    port: 8080,
    expect: "STRICT",
  },
  {
    name: "portLevelMtls under an UNSET workload mode overrides the inherited one",
    policies: [
      ["foo/default", strict],
      ["foo/httpbin", { ...httpbin, ...unset, portLevelMtls: { "8080": { mode: "PERMISSIVE" } } }],
    ],
    port: 8080,
    expect: "PERMISSIVE",
  },
  {
    name: "a selector that does not match does not apply",
    policies: [
      ["foo/default", strict],
      ["foo/other", { selector: { matchLabels: { app: "other" } }, ...disable }],
    ],
    expect: "STRICT",
  },
  {
    name: "a policy of another namespace does not apply",
    policies: [
      ["bar/default", strict],
      ["bar/httpbin", { ...httpbin, ...strict }],
    ],
    expect: "PERMISSIVE",
  },
  {
    // "Workload-level configs should not be in root namespace (...) they will be safely ignored"
    name: "a selector in the root namespace is ignored",
    policies: [["skiff-system/httpbin", { ...httpbin, ...strict }]],
    expect: "PERMISSIVE",
  },
  {
    name: "a selector in the root namespace is ignored for root workloads too",
    policies: [
      ["skiff-system/default", permissive],
      ["skiff-system/httpbin", { ...httpbin, ...strict }],
    ],
    workload: { namespace: ROOT, labels: { app: "httpbin" } },
    expect: "PERMISSIVE",
  },
  {
    name: "a workload in the root namespace takes the mesh-wide policy",
    policies: [["skiff-system/default", strict]],
    workload: { namespace: ROOT, labels: {} },
    expect: "STRICT",
  },
  {
    name: "the oldest namespace-wide policy wins",
    policies: [
      ["foo/b", strict, 1],
      ["foo/a", permissive, 2],
    ],
    expect: "STRICT",
    decidedBy: ["foo/b", "Namespace"],
  },
  {
    name: "equal ages: the name decides",
    policies: [
      ["foo/b", strict, 1],
      ["foo/a", permissive, 1],
    ],
    expect: "PERMISSIVE",
    decidedBy: ["foo/a", "Namespace"],
  },
  {
    name: "the oldest workload policy wins, even when it is UNSET",
    policies: [
      ["foo/default", disable],
      ["foo/old", { ...httpbin, ...unset }, 1],
      ["foo/new", { selector: { matchLabels: { version: "v1" } }, ...strict }, 2],
    ],
    expect: "DISABLE",
  },
  {
    name: "the oldest mesh-wide policy wins",
    policies: [
      ["skiff-system/new", permissive, 5],
      ["skiff-system/old", strict, 3],
    ],
    expect: "STRICT",
  },
];

describe("effectiveMtls: PeerAuthentication precedence", () => {
  for (const c of CASES) {
    it(c.name, () => {
      const models = c.policies.map((p) => peerAuthenticationModel(paObject(p), ROOT));
      const args = [models, ROOT, c.workload ?? WORKLOAD, c.port, c.meshDefault ?? "PERMISSIVE"] as const;
      assert.equal(effectiveMtls(...args), c.expect);
      if (c.decidedBy) {
        const decision = mtlsDecision(...args);
        assert.deepEqual([decision.policy, decision.level], c.decidedBy);
      }
    });
  }

  it("ignores portLevelMtls on a namespace-wide policy (the API refuses it; Istio reads it only with a selector)", () => {
    const model = {
      ...peerAuthenticationModel(paObject(["foo/default", strict]), ROOT),
      portLevel: { "8080": "DISABLE" as const },
    };
    assert.equal(effectiveMtls([model], ROOT, WORKLOAD, 8080, "PERMISSIVE"), "STRICT");
  });
});

describe("compileSecurity: PeerAuthentication findings", () => {
  const pod = (name: string, labels: Record<string, string>, namespace = "foo"): IPod => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace, labels },
  });
  const accepted = (result: ReturnType<typeof compileSecurity>, key: string) =>
    result.findings.find((f) => `${f.source.namespace}/${f.source.name}` === key)?.findings[0];

  it("accepts a lone policy", () => {
    const result = compileSecurity({
      peerAuthentications: [paObject(["foo/default", strict])],
      authorizationPolicies: [],
    });
    assert.equal(accepted(result, "foo/default")?.status, "True");
    assert.equal(result.model.peerAuthentications.length, 1);
    assert.equal(result.model.rootNamespace, ROOT);
    assert.equal(result.model.defaultMtlsMode, "PERMISSIVE");
  });

  it("marks the younger of two namespace-wide policies Conflicted", () => {
    const result = compileSecurity({
      peerAuthentications: [paObject(["foo/b", strict, 1]), paObject(["foo/a", permissive, 2])],
      authorizationPolicies: [],
    });
    assert.equal(accepted(result, "foo/b")?.status, "True");
    assert.deepEqual(accepted(result, "foo/a"), {
      type: "Accepted",
      status: "False",
      reason: "Conflicted",
      message: "PeerAuthentication b is older and already sets the mTLS mode of the namespace foo.",
    });
  });

  it("breaks a tie in age by name, at the mesh level", () => {
    const result = compileSecurity({
      peerAuthentications: [paObject(["skiff-system/b", strict]), paObject(["skiff-system/a", strict])],
      authorizationPolicies: [],
    });
    assert.equal(accepted(result, "skiff-system/a")?.status, "True");
    assert.match(accepted(result, "skiff-system/b")?.message ?? "", /a is older .* the whole mesh/);
  });

  it("finds selector conflicts through the Pods both select", () => {
    const result = compileSecurity({
      peerAuthentications: [
        paObject(["foo/by-app", { ...httpbin, ...strict }, 1]),
        paObject(["foo/by-version", { selector: { matchLabels: { version: "v1" } }, ...disable }, 2]),
      ],
      authorizationPolicies: [],
      pods: [pod("httpbin-1", { app: "httpbin", version: "v1" })],
    });
    assert.equal(accepted(result, "foo/by-app")?.status, "True");
    assert.equal(accepted(result, "foo/by-version")?.reason, "Conflicted");
    assert.match(accepted(result, "foo/by-version")?.message ?? "", /Pod httpbin-1/);
  });

  it("does not call disjoint selectors a conflict", () => {
    const result = compileSecurity({
      peerAuthentications: [
        paObject(["foo/a", { ...httpbin, ...strict }, 1]),
        paObject(["foo/b", { selector: { matchLabels: { app: "other" } }, ...disable }, 2]),
      ],
      authorizationPolicies: [],
      pods: [pod("httpbin-1", { app: "httpbin" }), pod("other-1", { app: "other" })],
    });
    assert.equal(accepted(result, "foo/b")?.status, "True");
  });

  it("reports a selector in the root namespace as ignored", () => {
    const result = compileSecurity({
      peerAuthentications: [paObject(["skiff-system/httpbin", { ...httpbin, ...strict }])],
      authorizationPolicies: [],
    });
    assert.equal(accepted(result, "skiff-system/httpbin")?.reason, "SelectorInRootNamespace");
  });

  it("leaves invalid policies out of the model", () => {
    const result = compileSecurity({
      peerAuthentications: [
        paObject(["foo/ports", { ...strict, portLevelMtls: { "8080": { mode: "DISABLE" } } }]),
      ],
      authorizationPolicies: [],
    });
    assert.deepEqual(accepted(result, "foo/ports"), {
      type: "Accepted",
      status: "False",
      reason: "Invalid",
      message: "spec.portLevelMtls: portLevelMtls requires a selector",
    });
    assert.deepEqual(result.model.peerAuthentications, []);
  });

  it("warns about AuthorizationPolicies that use principals on workloads without mTLS", () => {
    const ap: AuthorizationPolicy = {
      apiVersion: "skiff.dev/v1alpha1",
      kind: "AuthorizationPolicy",
      metadata: { namespace: "foo", name: "viewer" },
      spec: { rules: [{ from: [{ source: { principals: ["cluster.local/ns/foo/sa/sleep"] } }] }] },
    };
    const warnings = (mode: PeerAuthenticationSpec) =>
      compileSecurity({
        peerAuthentications: [paObject(["foo/default", mode])],
        authorizationPolicies: [ap],
        pods: [pod("httpbin-1", { app: "httpbin" })],
      }).findings.find((f) => f.kind === "AuthorizationPolicy")?.warnings;
    assert.deepEqual(warnings(disable), [
      {
        reason: "PrincipalsWithoutMtls",
        rule: 0,
        message: "principals are used but the workload is not under mTLS, so this rule never matches",
      },
    ]);
    assert.deepEqual(warnings(strict), []);
  });

  it("warns for a proxyless gRPC server under PERMISSIVE too, which it serves as plaintext", () => {
    const ap: AuthorizationPolicy = {
      apiVersion: "skiff.dev/v1alpha1",
      kind: "AuthorizationPolicy",
      metadata: { namespace: "foo", name: "viewer" },
      spec: { rules: [{ from: [{ source: { principals: ["cluster.local/ns/foo/sa/sleep"] } }] }] },
    };
    const grpcPod = pod("grpc-1", { app: "grpc" });
    grpcPod.metadata!.annotations = { "proxy.skiff.dev/proxyless": "true" };
    const warnings = (pods: IPod[]) =>
      compileSecurity({ peerAuthentications: [], authorizationPolicies: [ap], pods }).findings.find(
        (f) => f.kind === "AuthorizationPolicy",
      )?.warnings;
    assert.equal(warnings([grpcPod])?.[0]?.reason, "PrincipalsWithoutMtls");
    assert.deepEqual(warnings([pod("httpbin-1", { app: "httpbin" })]), []);
  });
});

describe("servedMtlsMode", () => {
  it("serves PERMISSIVE as plaintext on a proxyless gRPC server, and every mode as is on a sidecar", () => {
    assert.equal(servedMtlsMode("PERMISSIVE", "proxyless"), "DISABLE");
    assert.equal(servedMtlsMode("STRICT", "proxyless"), "STRICT");
    assert.equal(servedMtlsMode("DISABLE", "proxyless"), "DISABLE");
    for (const mode of ["PERMISSIVE", "STRICT", "DISABLE"] as const)
      assert.equal(servedMtlsMode(mode, "sidecar"), mode);
  });
});
