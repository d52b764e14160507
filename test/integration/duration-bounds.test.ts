import assert from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import { durationMs } from "../../src/api/duration.js";
import type { TrafficPolicy } from "../../src/api/v1alpha1/generated/trafficpolicy.js";
import { compile } from "../../src/compile/compile.js";
import { KubernetesApiError, RestClient } from "../../src/k8s/rest.js";
import { MeshSnapshots } from "../../src/xds/cache/mesh-snapshots.js";
import { decodeMessage, encodeJson, messageToJson } from "../../src/xds/protos/registry.js";
import { messageName } from "../../src/xds/translate/resource.js";
import { translate } from "../../src/xds/translate/translate.js";
import { clusterStateFromFiles } from "../support/cluster-state.js";
import { envoyViolationsOfMany } from "../support/envoy-validator.js";
import { controlPlane } from "./controlplane.fixture.js";
import { kubectlOk } from "./kubectl.js";

/**
 * Part of issue 14's first invariant, for durations: every duration the API
 * server admits becomes Envoy configuration that encodes and passes Envoy's
 * proto validation, and lies within the documented range as Skiff itself
 * reads it. A seeded search; SKIFF_INVARIANT_RUNS and SKIFF_INVARIANT_SEED
 * run it longer or elsewhere.
 */
const NS = "duration-bounds";
const RUNS = Number(process.env.SKIFF_INVARIANT_RUNS ?? 200);
const SEED = Number(process.env.SKIFF_INVARIANT_SEED ?? 14);
const DATA = join(import.meta.dirname, "..", "testdata", "translate");
const H = 3600_000;

/** Each field as the docs state its range, in milliseconds. */
const RANGES: Record<string, [number, number]> = {
  timeout: [1, 8760 * H],
  perTryTimeout: [1, 8760 * H],
  fixedDelay: [1, 8760 * H],
  ttl: [0, 87600 * H],
  connectTimeout: [1, 8760 * H],
  idleTimeout: [1, 8760 * H],
  interval: [1, 8760 * H],
  baseEjectionTime: [1, 8760 * H],
  fillInterval: [50, 8760 * H],
};

/** Durations near every bound, past CEL's range, in Go's odd forms, and at random. */
const edgyDuration: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    "0s",
    "1ns",
    "999us",
    "999999ns",
    "1ms",
    "0.001s",
    "49ms",
    "49.999999ms",
    "50ms",
    "1h",
    "8760h",
    "8759h59m59.999999999s",
    "8760h1ns",
    "8761h",
    "87600h",
    "87600h1ns",
    "999999h",
    "1000000h",
    "100000000h",
    "2562047h47m16.854775807s",
    "30s1m",
    "1h1h",
    "0.5h",
    ".5s",
    "1e3s",
  ),
  fc
    .record(
      {
        h: fc.integer({ min: 0, max: 9_999_999 }),
        m: fc.integer({ min: 0, max: 99_999_999 }),
        s: fc.integer({ min: 0, max: 999_999_999 }),
        ms: fc.integer({ min: 0, max: 999_999 }),
        us: fc.integer({ min: 0, max: 999_999 }),
        ns: fc.integer({ min: 0, max: 999_999 }),
        fraction: fc.option(fc.integer({ min: 0, max: 999 }), { nil: undefined }),
      },
      { requiredKeys: [] },
    )
    .map(({ fraction, ...parts }) => {
      const text = Object.entries(parts)
        .map(([unit, n]) => `${n}${unit}`)
        .join("");
      return fraction === undefined || text === "" ? text || "0s" : text.replace(/^(\d+)/, `$1.${fraction}`);
    }),
);

/** Mostly what people write, so that most objects pass admission and reach translate. */
const durationText: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(fc.integer({ min: 1, max: 5000 }), fc.constantFrom("ms", "s", "m", "h"))
      .map(([n, unit]) => `${n}${unit}`),
  },
  { weight: 1, arbitrary: edgyDuration },
);

const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 2 });

const spec = fc
  .record({
    timeout: maybe(durationText),
    perTryTimeout: maybe(durationText),
    fixedDelay: maybe(durationText),
    ttl: maybe(durationText),
    connectTimeout: maybe(durationText),
    idleTimeout: maybe(durationText),
    interval: maybe(durationText),
    baseEjectionTime: maybe(durationText),
    fillInterval: maybe(durationText),
  })
  .map((d) => {
    const only = <T extends object>(o: T) =>
      Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
    return only({
      targetRef: { kind: "Service", name: "reviews" },
      http: [
        only({
          route: [{}],
          timeout: d.timeout,
          retries: d.perTryTimeout ? { attempts: 2, perTryTimeout: d.perTryTimeout } : undefined,
          fault: d.fixedDelay ? { delay: { fixedDelay: d.fixedDelay } } : undefined,
        }),
      ],
      loadBalancer: d.ttl
        ? { algorithm: "RingHash", hash: { cookie: { name: "session", ttl: d.ttl } } }
        : undefined,
      connectionPool:
        d.connectTimeout || d.idleTimeout
          ? only({
              tcp: d.connectTimeout ? { connectTimeout: d.connectTimeout } : undefined,
              http: d.idleTimeout ? { idleTimeout: d.idleTimeout } : undefined,
            })
          : undefined,
      outlierDetection:
        d.interval || d.baseEjectionTime
          ? only({ consecutive5xxErrors: 5, interval: d.interval, baseEjectionTime: d.baseEjectionTime })
          : undefined,
      rateLimit: d.fillInterval
        ? { local: { maxTokens: 10, tokensPerFill: 10, fillInterval: d.fillInterval } }
        : undefined,
    });
  });

/** Every duration string in an object, by field name. */
function durations(node: unknown, out: [string, string][] = []): [string, string][] {
  if (node && typeof node === "object")
    for (const [key, value] of Object.entries(node)) {
      if (key in RANGES && typeof value === "string") out.push([key, value]);
      else durations(value, out);
    }
  return out;
}

const validity = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 2000 }).map((n) => `${n}h`) },
  { weight: 1, arbitrary: edgyDuration },
);

describe("every duration the API server admits becomes valid Envoy configuration", function () {
  this.timeout(300_000);
  let rest: RestClient;

  before(async () => {
    rest = new RestClient(controlPlane().kubeConfig());
    await kubectlOk(["create", "namespace", NS]);
  });
  after(() => kubectlOk(["delete", "namespace", NS, "--wait=false"]));

  it(`holds for ${RUNS} seeded TrafficPolicies`, async () => {
    const base = clusterStateFromFiles(join(DATA, "base.yaml"));
    const admitted: { label: string; typeName: string; json: string }[] = [];
    const seen = new Set<string>();
    let accepted = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(spec, async (s) => {
        const body = {
          apiVersion: "skiff.dev/v1alpha1",
          kind: "TrafficPolicy",
          metadata: { name: "p", namespace: NS },
          spec: s,
        };
        let stored: TrafficPolicy;
        try {
          stored = await rest.request<TrafficPolicy>(
            "POST",
            `/apis/skiff.dev/v1alpha1/namespaces/${NS}/trafficpolicies`,
            {
              body,
              query: { dryRun: "All", fieldValidation: "Strict" },
            },
          );
        } catch (error) {
          if (!(error instanceof KubernetesApiError) || error.statusCode !== 422) throw error;
          refused += 1;
          assert.match(error.message, /spec\./, "the refusal names the field");
          return;
        }
        accepted += 1;
        for (const [field, text] of durations(stored.spec)) {
          const ms = durationMs(text);
          const [min, max] = RANGES[field]!;
          assert.ok(ms >= min && ms <= max, `${field}: ${text} is ${ms} ms, outside [${min}, ${max}]`);
        }
        const policy = {
          ...stored,
          metadata: { ...stored.metadata, namespace: "bookinfo", generation: 1 },
        } as TrafficPolicy;
        const resources = translate(compile({ ...base, trafficPolicies: [policy] }).model);
        new MeshSnapshots().publish(resources); // Throws if a resource cannot be encoded.
        const all = [
          ...resources.shared,
          ...resources.proxyless,
          ...resources.sidecar,
          ...[...resources.inbound.values()].flat(),
        ];
        for (const r of all) {
          const json = JSON.stringify(r.json);
          if (seen.has(json)) continue;
          seen.add(json);
          const type = messageName(r.typeUrl);
          // Round-trip through bytes, as a proxy receives it.
          const decoded = messageToJson(type, decodeMessage(type, encodeJson(type, r.json)));
          admitted.push({
            label: `${JSON.stringify(s)} ${r.name}`,
            typeName: type,
            json: JSON.stringify(decoded),
          });
        }
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    console.log(
      `      ${accepted} admitted, ${refused} refused; ${admitted.length} distinct resources validated`,
    );
    assert.ok(accepted > RUNS / 10 && refused > RUNS / 10, `${accepted} admitted, ${refused} refused`);
    assert.deepEqual(envoyViolationsOfMany(admitted), []);
  });

  it(`holds for ${RUNS} seeded Mesh certificate validities: renewal fits a Node timer`, async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(validity, validity, async (rootValidity, workloadValidity) => {
        const body = {
          apiVersion: "skiff.dev/v1alpha1",
          kind: "Mesh",
          metadata: { name: "duration-bounds" },
          spec: { certificateAuthority: { builtin: { rootValidity, workloadValidity } } },
        };
        try {
          await rest.request("POST", "/apis/skiff.dev/v1alpha1/meshes", {
            body,
            query: { dryRun: "All", fieldValidation: "Strict" },
          });
        } catch (error) {
          if (!(error instanceof KubernetesApiError) || error.statusCode !== 422) throw error;
          assert.match(error.message, /spec\.certificateAuthority\.builtin\./);
          return;
        }
        accepted += 1;
        const root = durationMs(rootValidity);
        const workload = durationMs(workloadValidity);
        assert.ok(workload >= H && workload <= 720 * H, `workloadValidity ${workloadValidity}`);
        assert.ok(root > workload && root <= 876000 * H, `rootValidity ${rootValidity}`);
        assert.ok(0.8 * workload <= 2 ** 31 - 1, "the renewal delay fits setTimeout");
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    console.log(`      ${accepted} of ${RUNS} admitted`);
  });
});
