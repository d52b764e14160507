import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { basename, join } from "node:path";
import { compile } from "../../../../src/compile/compile.js";
import { renderBootstrap } from "../../../../src/inject/bootstrap.js";
import type { MeshModel } from "../../../../src/ir/model.js";
import { encodeJson } from "../../../../src/xds/protos/registry.js";
import {
  CLUSTER_TYPE,
  ENDPOINT_TYPE,
  LISTENER_TYPE,
  messageName,
  ROUTE_TYPE,
  type EnvoyResource,
} from "../../../../src/xds/translate/resource.js";
import { everyResource, translate, type MeshResources } from "../../../../src/xds/translate/translate.js";
import { clusterStateFromFiles } from "../../../support/cluster-state.js";
import { envoyValidate } from "../../../support/envoy-validate-mode.js";
import { envoyViolationsOfMany } from "../../../support/envoy-validator.js";
import { generatedYaml, GoldenFolder } from "../../../support/golden.js";
import { inconsistencies, proxyViews } from "../../../support/snapshot-consistency.js";
import {
  issuedWorkloadSecrets,
  proxylessStaticResources,
  sidecarStaticResources,
  withStaticResources,
} from "../../../support/static-bootstrap.js";

/**
 * Golden tests for compile and translate: each in/<case>.yaml, on top of
 * base.yaml, must produce exactly out/<case>.ir.yaml (the model compile
 * makes) and out/<case>.<kind>.yaml (what translate makes of it). UPDATE_GOLDEN=1
 * rewrites the outputs (and deletes those of removed cases); review reads the
 * diff. Every resource in every output must also encode to protobuf, pass
 * Envoy's proto validation, be consistent for every kind of proxy (what a
 * listener or cluster names is sent with it), and load in the real Envoy.
 */
const DATA = join(import.meta.dirname, "..", "..", "..", "testdata", "translate");
const cases = readdirSync(join(DATA, "in"))
  .filter((f) => f.endsWith(".yaml"))
  .map((f) => basename(f, ".yaml"))
  .sort();

const OUTPUTS: [string, string][] = [
  ["listeners", LISTENER_TYPE],
  ["routes", ROUTE_TYPE],
  ["clusters", CLUSTER_TYPE],
  ["endpoints", ENDPOINT_TYPE],
];

/** The resources of one type, grouped by who receives them. */
function byAudience(resources: MeshResources, typeUrl: string): Record<string, unknown[]> {
  const groups: [string, readonly EnvoyResource[]][] = [
    ["shared", resources.shared],
    ["proxyless", resources.proxyless],
    ["proxylessMtls", resources.proxylessMtls],
    ["sidecar", resources.sidecar],
    ...[...resources.inbound].map(([workload, list]): [string, readonly EnvoyResource[]] => [
      `inbound ${workload}`,
      list,
    ]),
  ];
  const out: Record<string, unknown[]> = {};
  for (const [audience, list] of groups) {
    const ofType = list.filter((r) => r.typeUrl === typeUrl).map((r) => r.json);
    if (ofType.length > 0) out[audience] = ofType;
  }
  return out;
}

const render = (value: unknown) => generatedYaml(value, "test/unit/xds/translate/golden.test.ts");
const golden = new GoldenFolder(join(DATA, "out"));
const goldenFiles = (name: string) => [
  `${name}.ir.yaml`,
  ...OUTPUTS.map(([kind]) => `${name}.${kind}.yaml`),
  `${name}.findings.yaml`,
];

describe("translate golden files", () => {
  const outputs = new Map<string, { model: MeshModel; resources: MeshResources; findings: unknown }>();
  for (const name of cases) {
    const { model, findings } = compile(
      clusterStateFromFiles(join(DATA, "base.yaml"), join(DATA, "in", `${name}.yaml`)),
    );
    outputs.set(name, { model, resources: translate(model), findings });
  }

  it("has at least 20 cases", () => assert.ok(cases.length >= 20, `${cases.length} cases`));

  for (const name of cases) {
    it(`${name}: matches its golden files`, () => {
      const { model, resources, findings } = outputs.get(name)!;
      const files: [string, string][] = [
        [`${name}.ir.yaml`, render(model)],
        ...OUTPUTS.map(([kind, typeUrl]): [string, string] => [
          `${name}.${kind}.yaml`,
          render(byAudience(resources, typeUrl)),
        ]),
        [`${name}.findings.yaml`, render(findings)],
      ];
      for (const [file, content] of files) golden.check(file, content);
    });
  }

  it("has no golden file that no case renders", () => golden.checkNothingElse(cases.flatMap(goldenFiles)));

  it("is deterministic: translating twice gives identical output", () => {
    for (const name of cases) {
      const state = clusterStateFromFiles(join(DATA, "base.yaml"), join(DATA, "in", `${name}.yaml`));
      const reversed = Object.fromEntries(
        Object.entries(state).map(([k, v]) => [k, Array.isArray(v) ? [...v].reverse() : v]),
      );
      assert.equal(
        JSON.stringify([...Object.entries(translate(compile(reversed as typeof state).model))]),
        JSON.stringify([...Object.entries(outputs.get(name)!.resources)]),
        name,
      );
    }
  });

  it("every resource encodes to protobuf", () => {
    for (const [name, { resources }] of outputs) {
      for (const r of everyResource(resources)) {
        assert.doesNotThrow(() => encodeJson(messageName(r.typeUrl), r.json), `${name}: ${r.name}`);
      }
    }
  });

  it("every resource passes Envoy's proto validation (go-control-plane ValidateAll)", function () {
    this.timeout(300_000);
    const items = [...outputs].flatMap(([name, { resources }]) =>
      everyResource(resources).map((r) => ({
        label: `${name} ${r.name}`,
        typeName: messageName(r.typeUrl),
        json: JSON.stringify(r.json),
      })),
    );
    assert.ok(items.length > 100, `${items.length} resources`);
    assert.deepEqual(envoyViolationsOfMany(items), []);
  });

  it("is consistent for every kind of proxy: what a cluster or listener names is sent with it", () => {
    for (const [, { model, resources }] of outputs) {
      const proxyless = model.workloads.filter((w) => w.dataPlane === "proxyless").map((w) => w.key);
      const views = proxyViews(resources, proxyless);
      assert.deepEqual(views.flatMap(inconsistencies), []);
    }
  });

  it("the consistency check finds a missing ClusterLoadAssignment and route configuration", () => {
    const { resources } = outputs.get("no-policy")!;
    const [sidecar] = proxyViews(resources, []);
    const without = {
      label: "trimmed",
      resources: sidecar!.resources.filter((r) => r.typeUrl !== ENDPOINT_TYPE && r.typeUrl !== ROUTE_TYPE),
    };
    const found = inconsistencies(without);
    assert.ok(
      found.some((p) => p.includes("names endpoints")),
      found.join("\n"),
    );
    assert.ok(
      found.some((p) => p.includes("names routes")),
      found.join("\n"),
    );
  });

  it("every case loads in the real Envoy (envoy --mode validate), as sidecars and proxyless clients get it", async function () {
    this.timeout(600_000); // the first run fetches Envoy; then about a second a case on 2 busy cores
    const secrets = await issuedWorkloadSecrets();
    const bootstrap = JSON.parse(
      // With the collector's cluster, which the tracers of cases with tracing name.
      renderBootstrap({
        xds: { host: "skiff-xds.skiff-system.svc", port: 15010 },
        adminPort: 15000,
        otlpEndpoint: "otel-collector.observability:4317",
      }),
    );
    const refused: string[] = [];
    for (const [name, { model, resources }] of outputs) {
      const sidecars = model.workloads.filter((w) => w.dataPlane !== "proxyless").map((w) => w.key);
      const [sidecar, proxyless] = await Promise.all([
        envoyValidate(withStaticResources(bootstrap, sidecarStaticResources(resources, sidecars, secrets))),
        envoyValidate(withStaticResources(bootstrap, proxylessStaticResources(resources, secrets))),
      ]);
      if (!sidecar.ok) refused.push(`${name} (sidecars): ${sidecar.output}`);
      if (!proxyless.ok) refused.push(`${name} (proxyless): ${proxyless.output}`);
    }
    assert.deepEqual(refused, []);
  });
});
