import assert from "node:assert/strict";
import fc from "fast-check";
import fastJsonPatch from "fast-json-patch";
import type { IPod } from "kubernetes-models/v1";
import type { AuthorizationPolicy } from "../../src/api/v1alpha1/generated/authorizationpolicy.js";
import type { Mesh } from "../../src/api/v1alpha1/generated/mesh.js";
import type { PeerAuthentication } from "../../src/api/v1alpha1/generated/peerauthentication.js";
import type { TrafficPolicy } from "../../src/api/v1alpha1/generated/trafficpolicy.js";
import { compile } from "../../src/compile/compile.js";
import { authorizationPolicyAdmissionIssues } from "../../src/compile/security-issues.js";
import { trafficPolicyIssues } from "../../src/compile/traffic-issues.js";
import { desiredNamespaceConfig, meshSettings } from "../../src/controllers/mesh/desired.js";
import { meshIssues } from "../../src/controllers/mesh/issues.js";
import { sidecarPatch } from "../../src/inject/sidecar.js";
import { injectionSettings } from "../../src/webhook/injection-settings.js";
import { KubernetesApiError, RestClient } from "../../src/k8s/rest.js";
import { MeshSnapshots } from "../../src/xds/cache/mesh-snapshots.js";
import { translate } from "../../src/xds/translate/translate.js";
import {
  looseAuthorizationPolicySpec,
  looseMeshSpec,
  loosePeerAuthenticationSpec,
  looseTrafficPolicySpec,
} from "../support/arbitrary-custom-resources.js";
import { envoyValidate, type EnvoyVerdict } from "../support/envoy-validate-mode.js";
import {
  CASE_NAMESPACE_LABELS,
  CASE_PORTS,
  CASE_SERVICES,
  caseCluster,
  caseNamespace,
} from "../support/policy-search-cluster.js";
import {
  issuedWorkloadSecrets,
  proxylessStaticResources,
  sidecarStaticResources,
  withStaticResources,
} from "../support/static-bootstrap.js";
import type { EnvoyResource } from "../../src/xds/translate/resource.js";
import { controlPlane } from "./controlplane.fixture.js";
import { kubectlOk } from "./kubectl.js";

/**
 * Issue 14's first invariant: every custom resource the API server admits
 * compiles and translates, and what it translates to is accepted by the real
 * Envoy (`envoy --mode validate`). The generator makes objects of all four
 * kinds that are often invalid; admission is the API server's (schema and
 * CEL, by a dry-run create) plus the validating webhook's own checks
 * (trafficPolicyIssues, meshIssues, authorizationPolicyAdmissionIssues). Everything admitted goes, one namespace per case,
 * into one cluster state, one translation and two Envoy runs per batch: the
 * sidecar's (outbound, and every sidecar workload's inbound side, on the
 * bootstrap the operator renders for that batch's Mesh) and the proxyless
 * clients' (their route configurations). A refused batch is bisected to the
 * case, and the case to the object, that Envoy refuses. And the Pod the
 * injector makes under each admitted Mesh is one the API server accepts (a
 * dry-run create): what the sidecar template takes from the Mesh, such as
 * its resources, must not make every injected Pod invalid.
 *
 * `make test-integration` runs 120 cases from a fixed seed; `make search`
 * runs SKIFF_SEARCH_RUNS cases (default 10000) from SKIFF_SEARCH_SEED or a
 * fresh seed, printed. SKIFF_INVARIANT_VERBOSE=1 prints
 * each refusal, to see what keeps the generator's objects out.
 */
const LONG_CASES = Number(process.env.SKIFF_SEARCH_RUNS ?? 0);
const CASES = LONG_CASES > 0 ? LONG_CASES : 120;
const SEED =
  process.env.SKIFF_SEARCH_SEED !== undefined
    ? Number(process.env.SKIFF_SEARCH_SEED)
    : LONG_CASES > 0
      ? Date.now() % 2 ** 31
      : 14;
const BATCH = Math.min(CASES, 40);
const NS = "admitted-policies";
const CREATED = "2026-01-01T00:00:00Z";

type Json = Record<string, unknown>;
/** An object as the API server stores it. */
type Stored = Json & { metadata: Json };
type Kind = "TrafficPolicy" | "PeerAuthentication" | "AuthorizationPolicy";
const PLURAL: Record<Kind | "Mesh", string> = {
  TrafficPolicy: "trafficpolicies",
  PeerAuthentication: "peerauthentications",
  AuthorizationPolicy: "authorizationpolicies",
  Mesh: "meshes",
};

/** One case: the objects generated for one namespace. */
interface Case {
  readonly objects: readonly { kind: Kind; spec: Json }[];
}

const oneCase: fc.Arbitrary<Case> = fc
  .tuple(
    fc.array(looseTrafficPolicySpec(CASE_SERVICES), { maxLength: 2 }),
    fc.array(loosePeerAuthenticationSpec(CASE_PORTS), { maxLength: 1 }),
    fc.array(looseAuthorizationPolicySpec([caseNamespace(0), caseNamespace(1)], CASE_PORTS), {
      maxLength: 2,
    }),
  )
  .map(([tps, pas, aps]) => ({
    objects: [
      ...tps.map((spec) => ({ kind: "TrafficPolicy" as const, spec })),
      ...pas.map((spec) => ({ kind: "PeerAuthentication" as const, spec })),
      ...aps.map((spec) => ({ kind: "AuthorizationPolicy" as const, spec })),
    ],
  }));

const batch = fc.record({
  mesh: looseMeshSpec(CASE_NAMESPACE_LABELS),
  cases: fc.array(oneCase, { minLength: BATCH, maxLength: BATCH }),
});

/** An admitted case: the API server's stored objects (defaults applied), placed in the case's namespace. */
interface AdmittedCase {
  readonly trafficPolicies: TrafficPolicy[];
  readonly peerAuthentications: PeerAuthentication[];
  readonly authorizationPolicies: AuthorizationPolicy[];
}

const counts = { generated: 0, admitted: 0, validated: 0, envoyRuns: 0, batches: 0 };

describe("every custom resource the API server admits translates to configuration Envoy accepts", function () {
  this.timeout(Math.max(600_000, CASES * 1000));
  let rest: RestClient;
  let defaultMesh: Mesh;
  let secrets: EnvoyResource[];

  before(async () => {
    rest = new RestClient(controlPlane().kubeConfig());
    secrets = await issuedWorkloadSecrets();
    await kubectlOk(["create", "namespace", NS]);
    defaultMesh = (await admit("Mesh", {})) as unknown as Mesh;
    assert.ok(defaultMesh, "the API server refuses an empty Mesh");
  });
  after(() => kubectlOk(["delete", "namespace", NS, "--wait=false"]));

  /** The stored object when admission takes it, undefined when it refuses it (and says which field). */
  async function admit(kind: Kind | "Mesh", spec: Json): Promise<Stored | undefined> {
    const path =
      kind === "Mesh"
        ? `/apis/skiff.dev/v1alpha1/meshes`
        : `/apis/skiff.dev/v1alpha1/namespaces/${NS}/${PLURAL[kind]}`;
    const body = { apiVersion: "skiff.dev/v1alpha1", kind, metadata: { name: "generated" }, spec };
    let stored: Stored;
    try {
      stored = await rest.request<Stored>("POST", path, {
        body,
        query: { dryRun: "All", fieldValidation: "Strict" },
      });
    } catch (error) {
      if (!(error instanceof KubernetesApiError) || error.statusCode !== 422) throw error;
      if (process.env.SKIFF_INVARIANT_VERBOSE) console.log(kind, error.message.slice(0, 400));
      return undefined;
    }
    // The validating webhook's checks that need no other object.
    if (kind === "TrafficPolicy" && trafficPolicyIssues(stored as unknown as TrafficPolicy).length > 0)
      return undefined;
    if (
      kind === "AuthorizationPolicy" &&
      authorizationPolicyAdmissionIssues(stored as unknown as AuthorizationPolicy).length > 0
    )
      return undefined;
    if (kind === "Mesh" && meshIssues(stored as unknown as Mesh).length > 0) {
      if (process.env.SKIFF_INVARIANT_VERBOSE) console.log(kind, JSON.stringify(meshIssues(stored as never)));
      return undefined;
    }
    return stored;
  }

  /** Why the API server refuses the Pod the injector makes under this Mesh; undefined when it takes it. */
  async function injectedPodProblem(mesh: Mesh): Promise<string | undefined> {
    const pod: IPod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "injected", namespace: NS },
      spec: { containers: [{ name: "app", image: "nginx" }] },
    };
    const { settings } = injectionSettings(mesh, pod, "skiff:test");
    const patch = sidecarPatch(pod, settings) as fastJsonPatch.Operation[];
    const injected = fastJsonPatch.applyPatch(structuredClone(pod), patch, true).newDocument;
    try {
      await rest.request("POST", `/api/v1/namespaces/${NS}/pods`, {
        body: injected,
        query: { dryRun: "All", fieldValidation: "Strict" },
      });
      return undefined;
    } catch (error) {
      if (!(error instanceof KubernetesApiError) || error.statusCode !== 422) throw error;
      return error.message;
    }
  }

  async function admitBatch(cases: readonly Case[]): Promise<AdmittedCase[]> {
    return Promise.all(
      cases.map(async (c, i) => {
        const out: AdmittedCase = { trafficPolicies: [], peerAuthentications: [], authorizationPolicies: [] };
        for (const [j, { kind, spec }] of c.objects.entries()) {
          counts.generated += 1;
          const stored = await admit(kind, spec);
          if (!stored) continue;
          counts.admitted += 1;
          const placed = {
            ...stored,
            metadata: {
              ...stored.metadata,
              name: `${kind.toLowerCase()}-${j}`,
              namespace: caseNamespace(i),
              generation: 1,
              creationTimestamp: CREATED,
            },
          };
          if (kind === "TrafficPolicy") out.trafficPolicies.push(placed as unknown as TrafficPolicy);
          else if (kind === "PeerAuthentication")
            out.peerAuthentications.push(placed as unknown as PeerAuthentication);
          else out.authorizationPolicies.push(placed as unknown as AuthorizationPolicy);
        }
        return out;
      }),
    );
  }

  /** Compiles and translates the cases (each in its namespace), and has Envoy judge the result. */
  async function verdict(mesh: Mesh, cases: readonly (AdmittedCase | undefined)[]): Promise<EnvoyVerdict> {
    const cluster = caseCluster(cases.length);
    const present = cases.filter((c): c is AdmittedCase => c !== undefined);
    const state = {
      ...cluster,
      mesh,
      trafficPolicies: present.flatMap((c) => c.trafficPolicies),
      peerAuthentications: present.flatMap((c) => c.peerAuthentications),
      authorizationPolicies: present.flatMap((c) => c.authorizationPolicies),
    };
    const { model } = compile(state);
    const resources = translate(model);
    new MeshSnapshots().publish(resources); // Throws if a resource cannot be encoded.
    const sidecars = model.workloads.filter((w) => w.dataPlane !== "proxyless").map((w) => w.key);
    const bootstrap = meshBootstrap(mesh);
    const runs = [
      withStaticResources(bootstrap, sidecarStaticResources(resources, sidecars, secrets)),
      withStaticResources(bootstrap, proxylessStaticResources(resources, secrets)),
    ];
    counts.envoyRuns += runs.length;
    const verdicts = await Promise.all(runs.map(envoyValidate));
    const refused = verdicts.find((v) => !v.ok);
    return refused ?? verdicts[0]!;
  }

  /**
   * The smallest thing in a refused batch that Envoy refuses: the Mesh alone,
   * or one case alone (by halves), then one object of that case alone.
   */
  async function culprit(mesh: Mesh, cases: readonly AdmittedCase[]): Promise<string> {
    const alone = await verdict(mesh, [undefined]);
    if (!alone.ok) return `the Mesh ${JSON.stringify(mesh.spec)}\n${alone.output}`;
    let candidates = cases.map((_, i) => i);
    while (candidates.length > 1) {
      const half = candidates.slice(0, Math.ceil(candidates.length / 2));
      const kept = cases.map((c, i) => (half.includes(i) ? c : undefined));
      candidates = (await verdict(mesh, kept)).ok ? candidates.slice(half.length) : half;
    }
    const i = candidates[0]!;
    const c = cases[i]!;
    const objects = [...c.trafficPolicies, ...c.peerAuthentications, ...c.authorizationPolicies];
    const only = (o: unknown): AdmittedCase => ({
      trafficPolicies: c.trafficPolicies.filter((x) => x === o),
      peerAuthentications: c.peerAuthentications.filter((x) => x === o),
      authorizationPolicies: c.authorizationPolicies.filter((x) => x === o),
    });
    for (const o of objects) {
      const v = await verdict(
        mesh,
        cases.map((_, k) => (k === i ? only(o) : undefined)),
      );
      if (!v.ok)
        return `${o.kind} ${JSON.stringify(o.spec)} (Mesh ${JSON.stringify(mesh.spec)})\n${v.output}`;
    }
    const v = await verdict(
      mesh,
      cases.map((_, k) => (k === i ? c : undefined)),
    );
    return `case ${i} together: ${JSON.stringify(objects.map((o) => ({ kind: o.kind, spec: o.spec })))}\n${v.output}`;
  }

  it(`holds for ${CASES} seeded cases (up to 5 objects each) and their Meshes`, async () => {
    const started = Date.now();
    await fc.assert(
      fc.asyncProperty(batch, async ({ mesh: meshSpec, cases }) => {
        counts.batches += 1;
        counts.generated += 1;
        const admittedMesh = (await admit("Mesh", meshSpec)) as unknown as Mesh | undefined;
        if (admittedMesh) counts.admitted += 1;
        const mesh = admittedMesh ?? defaultMesh;
        const podProblem = await injectedPodProblem(mesh);
        if (podProblem)
          assert.fail(
            `the API server refuses the Pod injected under the Mesh ${JSON.stringify(mesh.spec)}: ${podProblem}`,
          );
        const admitted = await admitBatch(cases);
        const v = await verdict(mesh, admitted);
        if (!v.ok) assert.fail(`Envoy refuses what admission let through: ${await culprit(mesh, admitted)}`);
        counts.validated +=
          (admittedMesh ? 1 : 0) +
          admitted.reduce(
            (n, c) =>
              n + c.trafficPolicies.length + c.peerAuthentications.length + c.authorizationPolicies.length,
            0,
          );
      }),
      { numRuns: Math.ceil(CASES / BATCH), seed: SEED, endOnFailure: true },
    );
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(
      `      seed ${SEED}: ${counts.generated} objects generated, ${counts.admitted} admitted, ${counts.validated} validated by Envoy ` +
        `(${counts.batches} batches, ${counts.envoyRuns} Envoy runs, ${seconds} s)`,
    );
    assert.ok(
      counts.admitted > counts.generated / 10,
      "admission took too few objects for the search to mean much",
    );
    assert.ok(counts.admitted < counts.generated, "admission refused nothing: the generator is too tame");
  });
});

/** The bootstrap the operator renders for a meshed namespace under this Mesh. */
function meshBootstrap(mesh: Mesh): Json {
  const settings = meshSettings(
    { ...mesh, metadata: { ...mesh.metadata, uid: mesh.metadata.uid ?? "uid" } },
    "skiff:test",
  );
  const configMaps = desiredNamespaceConfig(settings, caseNamespace(0), "");
  const data = configMaps
    .map((o) => (o as { data?: Record<string, string> }).data?.["envoy.json"])
    .find(Boolean);
  if (!data) throw new Error("no envoy.json among the namespace's ConfigMaps");
  return JSON.parse(data) as Json;
}
