import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { pino } from "pino";
import { stringify } from "yaml";
import type { AuthorizationPolicy } from "../../../src/api/v1alpha1/generated/authorizationpolicy.js";
import { compileSecurity } from "../../../src/compile/security.js";
import { RestClient } from "../../../src/k8s/rest.js";
import { authorize } from "../../../src/policy/authorization.js";
import { startXdsServer, type RunningXdsServer } from "../../../src/xds/xds-server.js";
import { startAgentWithCertificate, type RunningAgent } from "../../support/agent.js";
import { createMeshCa, freePort, hostAddress, markPodRunning } from "../../support/mesh-test-kit.js";
import { ECHO_CALL_PATH, OTHER_PATHS } from "../../support/grpc/echo.js";
import type { CallerChannel } from "../../support/grpc/caller.js";
import {
  startBackend,
  startCaller,
  type BackendHandle,
  type CallerHandle,
} from "../../support/grpc/spawn.js";
import { controlPlane } from "../controlplane.fixture.js";
import { eventually, kubectl, kubectlOk } from "../kubectl.js";

/**
 * Differential test through a real gRPC server: random AuthorizationPolicy
 * sets, applied to the real API server, translated by Skiff's xDS server
 * and enforced by a grpc-js-xds XdsServer (GRPC_XDS_EXPERIMENTAL_RBAC=true)
 * on real mTLS connections; each random request's outcome (OK or
 * PERMISSION_DENIED) must be the reference evaluator's decision for the same
 * policies, compiled from the same objects.
 *
 * The unit differential test (test/unit/policy/differential.test.ts) runs
 * thousands of cases against gRPC's RBAC engine directly. This one is
 * smaller, and adds what that cannot: the CRDs' admission, compile, the
 * listener as gRPC decodes it, filter order, identities from real client
 * certificates, ports, and the :authority a client really sends.
 *
 * The request space is what the setup can produce: three client identities
 * (two in the server's namespace, one in another) over mTLS on one port,
 * plaintext on the other (portLevelMtls DISABLE), three method paths, and an
 * optional x-user header. Every client connects from this host's address.
 */
const NS = "e2e-rbac";
const OTHER_NS = "e2e-rbac-other";
const MESH = "rbac-differential";
const SETS = Number(process.env.RBAC_DIFFERENTIAL_SETS ?? 25);
const REQUESTS_PER_SET = Number(process.env.RBAC_DIFFERENTIAL_REQUESTS ?? 24);
const SEED = 20261125;

const HOST = hostAddress();
/**
 * This host's address as a grpc-js-xds server sees it: XdsServer listens on
 * the port on every address, dual-stack, whatever IP it was bound to, so an
 * IPv4 peer appears IPv4-mapped. Its CIDR matcher compares address families,
 * so an IPv4 ipBlocks entry never matches such a peer; the evaluator, asked
 * about the address the server really sees, must agree.
 */
const SEEN_HOST = `::ffff:${HOST}`;

type ClientName = "alpha" | "beta" | "gamma" | "plaintext";
const CLIENT_NAMESPACE: Record<Exclude<ClientName, "plaintext">, string> = {
  alpha: NS,
  beta: NS,
  gamma: OTHER_NS,
};
const PATHS = [ECHO_CALL_PATH, ...OTHER_PATHS];

interface RequestCase {
  readonly client: ClientName;
  readonly path: string;
  readonly user?: string;
}

/** Policies over values this setup can match and miss, wildcards included. */
function policyArbitrary(
  ports: { mtls: number; plain: number },
  actions: readonly ("ALLOW" | "DENY")[],
): fc.Arbitrary<AuthorizationPolicy["spec"]> {
  const some = <T>(values: readonly T[]) =>
    fc.uniqueArray(fc.constantFrom(...values), { minLength: 1, maxLength: 2 });
  const principals = [
    `cluster.local/ns/${NS}/sa/alpha`,
    `cluster.local/ns/${OTHER_NS}/sa/gamma`,
    `cluster.local/ns/${NS}/*`,
    "*/sa/beta",
    "*",
  ];
  const namespaces = [NS, OTHER_NS, "e2e-rbac*", "*-other", "*"];
  const ipBlocks = [HOST, `${HOST}/32`, "10.255.0.0/16", "0.0.0.0/0"];
  const paths = [...PATHS, "/skiff.test.Echo/*", "*/Delete", "*"];
  const portValues = [String(ports.mtls), String(ports.plain)];
  const hosts = [`ratings.${NS}.svc.cluster.local:9090`, `ratings.${NS}*`, "*:9091", "*"];
  const users = ["alice", "ad*", "*"];
  const source = fc
    .record(
      {
        principals: some(principals),
        notPrincipals: some(principals),
        namespaces: some(namespaces),
        notNamespaces: some(namespaces),
        ipBlocks: some(ipBlocks),
      },
      { requiredKeys: [] },
    )
    .filter((s) => Object.keys(s).length === 1);
  const operation = fc
    .record(
      {
        paths: some(paths),
        notPaths: some(paths),
        ports: some(portValues),
        notPorts: some(portValues),
        hosts: some(hosts),
        methods: some(["POST", "GET"]),
      },
      { requiredKeys: [] },
    )
    .filter((o) => Object.keys(o).length === 1);
  const condition = fc.oneof(
    fc.record({ key: fc.constant("request.headers[x-user]"), values: some(users) }),
    fc.record({ key: fc.constant("request.headers[x-user]"), notValues: some(users) }),
    fc.record({ key: fc.constant("source.namespace"), values: some(namespaces) }),
  );
  const rule = fc.record(
    {
      from: fc.array(fc.record({ source }), { minLength: 1, maxLength: 2 }),
      to: fc.array(fc.record({ operation }), { minLength: 1, maxLength: 2 }),
      when: fc.array(condition, { minLength: 1, maxLength: 1 }),
    },
    { requiredKeys: [] },
  );
  return fc.record({
    action: fc.constantFrom(...actions),
    rules: fc.array(rule, { minLength: 0, maxLength: 3 }),
  }) as fc.Arbitrary<AuthorizationPolicy["spec"]>;
}

/** Three policies: p0 always selects ratings (so that its Programmed proves the server runs the set), p1 and p2 may not. */
function policySetArbitrary(ports: { mtls: number; plain: number }) {
  const spec = policyArbitrary(ports, ["ALLOW", "DENY"]);
  // p0 applies to every request, and an ALLOW policy denies all it does not match: mostly DENY, so
  // that both outcomes stay common.
  const first = policyArbitrary(ports, ["DENY", "DENY", "ALLOW"]);
  const scope = fc.constantFrom<Record<string, unknown>>(
    {},
    { selector: { matchLabels: { app: "ratings" } } },
    { selector: { matchLabels: { app: "other" } } },
  );
  return fc.tuple(
    first.map((s) => ({ ...s, selector: { matchLabels: { app: "ratings" } } })),
    fc.tuple(spec, scope).map(([s, extra]) => ({ ...s, ...extra })),
    fc.tuple(spec, scope).map(([s, extra]) => ({ ...s, ...extra })),
  );
}

const requestArbitrary: fc.Arbitrary<RequestCase> = fc.record(
  {
    client: fc.constantFrom<ClientName>("alpha", "beta", "gamma", "plaintext"),
    path: fc.constantFrom(...PATHS),
    user: fc.constantFrom("alice", "admin-7", "bob"),
  },
  { requiredKeys: ["client", "path"] },
);

describe("authorization differential through a real gRPC server (grpc-js-xds XdsServer, RBAC on)", function () {
  this.timeout(600_000);
  let xds: RunningXdsServer;
  let directory: string;
  const agents: RunningAgent[] = [];
  const backends: BackendHandle[] = [];
  let caller: CallerHandle;
  let ports: { mtls: number; plain: number };
  const rest = () => new RestClient(controlPlane().kubeConfig());

  async function agentFor(namespace: string, serviceAccount: string, pod: string): Promise<RunningAgent> {
    const agent = await startAgentWithCertificate({
      kubeConfig: controlPlane().kubeConfig(),
      xdsAddress: `127.0.0.1:${xds.port}`,
      namespace,
      serviceAccount,
      pod,
      host: HOST,
      directory,
    });
    agents.push(agent);
    return agent;
  }

  before(async () => {
    directory = mkdtempSync(join(tmpdir(), "skiff-rbac-"));
    ports = { mtls: await freePort(HOST), plain: await freePort(HOST) };
    await kubectlOk(["apply", "-f", "-"], objects(ports));
    await markPodRunning(NS, "ratings-v1", HOST);
    await createMeshCa(NS);
    xds = await startXdsServer(controlPlane().kubeConfig(), {
      security: { mode: "insecure" },
      address: "127.0.0.1:0",
      caNamespace: NS,
      logger: pino({ level: "warn" }),
    });
    const server = await agentFor(NS, "ratings", "ratings-v1");
    for (const port of [ports.mtls, ports.plain])
      backends.push(
        await startBackend(`ratings-${port}`, {
          address: `${HOST}:${port}`,
          xdsBootstrapFile: server.bootstrapFile,
          env: { GRPC_XDS_EXPERIMENTAL_RBAC: "true" },
          startTimeoutMs: 30_000,
        }),
      );
    // One process holds the four channels: three identities over mTLS, and alpha again to the plaintext port.
    const channels: Record<string, CallerChannel> = {};
    for (const name of ["alpha", "beta", "gamma"] as const) {
      const agent = await agentFor(CLIENT_NAMESPACE[name], name, `${name}-client`);
      const bootstrap = JSON.parse(readFileSync(agent.bootstrapFile, "utf8")) as object;
      channels[name] = { target: `xds:///ratings.${NS}.svc.cluster.local:9090`, bootstrap };
      if (name === "alpha")
        channels.plaintext = { target: `xds:///ratings.${NS}.svc.cluster.local:9091`, bootstrap };
    }
    caller = await startCaller(channels);
  });

  after(async () => {
    await caller?.stop();
    await Promise.all(backends.map((b) => b.stop()));
    await Promise.all(agents.map((a) => a.stop()));
    await xds?.stop();
    await kubectl(["delete", "mesh", MESH]);
    await kubectl(["delete", "namespace", NS, OTHER_NS, "--wait=false"]);
    if (directory) rmSync(directory, { recursive: true, force: true });
  });

  /** Applies a policy set and waits until the server's proxies run it. */
  async function applySet(
    specs: readonly AuthorizationPolicy["spec"][],
    index: number,
  ): Promise<AuthorizationPolicy[]> {
    // p0 changes in every set, so that waiting for its new generation means waiting for this set:
    // a rule for an identity that never calls, which matches nothing under either action.
    const marked = specs.map((spec, i) =>
      i === 0
        ? {
            ...spec,
            rules: [
              ...(spec!.rules ?? []),
              { from: [{ source: { principals: [`cluster.local/ns/nobody/sa/set-${index}`] } }] },
            ],
          }
        : spec,
    );
    const objects = marked.map((spec, i): AuthorizationPolicy => ({
      apiVersion: "skiff.dev/v1alpha1",
      kind: "AuthorizationPolicy",
      metadata: { name: `p${i}`, namespace: NS },
      spec,
    }));
    // p1 and p2 first, then p0: any generation that carries p0's change carries theirs too.
    // Server-side apply by one field manager: whatever the previous set had and this one lacks is removed.
    for (const group of [objects.slice(1), objects.slice(0, 1)])
      await kubectlOk(
        ["apply", "--server-side", "--field-manager=rbac-differential", "-f", "-"],
        group.map((o) => stringify(o)).join("---\n"),
      );
    await eventually(async () => {
      const p0 = await rest().request<{
        metadata: { generation: number };
        status?: {
          observedGeneration?: number;
          conditions?: { type: string; status: string; message: string }[];
        };
      }>("GET", `/apis/skiff.dev/v1alpha1/namespaces/${NS}/authorizationpolicies/p0`);
      const programmed = p0.status?.conditions?.find((c) => c.type === "Programmed");
      assert.equal(p0.status?.observedGeneration, p0.metadata.generation);
      assert.equal(programmed?.status, "True", JSON.stringify(p0.status));
      assert.match(programmed!.message, /^All 2 proxies /);
    });
    // The servers now run the new listener, but grpc-js-xds (1.14.1) keeps applying the listener a
    // connection was accepted under to that connection: new connections see the new policies.
    await caller.reset();
    return objects;
  }

  /** What the server answered: OK, or the gRPC status name. */
  const send = (request: RequestCase): Promise<string> =>
    caller.call({
      channel: request.client,
      path: request.path,
      ...(request.user === undefined ? {} : { metadata: { "x-user": request.user } }),
    });

  /** The reference evaluator's decision on the same objects. */
  function expected(policies: AuthorizationPolicy[], request: RequestCase): "OK" | "PERMISSION_DENIED" {
    const models = compileSecurity({ peerAuthentications: [], authorizationPolicies: policies }).model
      .authorizationPolicies;
    const mtls = request.client !== "plaintext";
    const decision = authorize(
      models,
      "skiff-system",
      { namespace: NS, labels: { app: "ratings" } },
      {
        protocol: "HTTP",
        ...(mtls
          ? {
              principal: `cluster.local/ns/${CLIENT_NAMESPACE[request.client as "alpha"]}/sa/${request.client}`,
            }
          : {}),
        sourceIp: SEEN_HOST,
        destinationIp: SEEN_HOST,
        port: mtls ? ports.mtls : ports.plain,
        host: `ratings.${NS}.svc.cluster.local:${mtls ? 9090 : 9091}`,
        method: "POST",
        path: request.path,
        headers: request.user === undefined ? {} : { "x-user": request.user },
      },
    );
    return decision.decision === "ALLOW" ? "OK" : "PERMISSION_DENIED";
  }

  it(`agrees with the reference evaluator on ${SETS} random policy sets x ${REQUESTS_PER_SET} requests`, async () => {
    const sets = fc.sample(policySetArbitrary(ports), { seed: SEED, numRuns: SETS });
    const requests = fc.sample(requestArbitrary, { seed: SEED + 1, numRuns: SETS * REQUESTS_PER_SET });
    const mismatches: string[] = [];
    const outcomes: Record<string, number> = {};
    let cases = 0;
    for (const [index, set] of sets.entries()) {
      const policies = await applySet(set, index);
      for (const request of requests.slice(index * REQUESTS_PER_SET, (index + 1) * REQUESTS_PER_SET)) {
        const [want, got] = [expected(policies, request), await send(request)];
        cases += 1;
        outcomes[got] = (outcomes[got] ?? 0) + 1;
        if (want !== got)
          mismatches.push(
            `set ${index}: ${JSON.stringify(request)} -> server ${got}, evaluator ${want}\n${policies.map((p) => stringify(p.spec)).join("---\n")}`,
          );
      }
    }
    console.log(
      `      ${cases} cases through the gRPC server, ${mismatches.length} mismatches; outcomes ${JSON.stringify(outcomes)}`,
    );
    assert.deepEqual(mismatches.slice(0, 3), []);
    // Both decisions occur often enough for the agreement to mean something.
    assert.ok(
      (outcomes.OK ?? 0) > cases / 10 && (outcomes.PERMISSION_DENIED ?? 0) > cases / 10,
      JSON.stringify(outcomes),
    );
  });
});

function objects(ports: { mtls: number; plain: number }): string {
  return `apiVersion: skiff.dev/v1alpha1
kind: Mesh
metadata: { name: ${MESH} }
---
apiVersion: v1
kind: Namespace
metadata: { name: ${NS}, labels: { skiff.dev/injection: enabled } }
---
apiVersion: v1
kind: Namespace
metadata: { name: ${OTHER_NS} }
---
${[
  [NS, "ratings"],
  [NS, "alpha"],
  [NS, "beta"],
  [OTHER_NS, "gamma"],
]
  .map(([ns, sa]) => `apiVersion: v1\nkind: ServiceAccount\nmetadata: { name: ${sa}, namespace: ${ns} }\n`)
  .join("---\n")}---
apiVersion: v1
kind: Pod
metadata:
  name: ratings-v1
  namespace: ${NS}
  labels: { app: ratings }
  annotations: { proxy.skiff.dev/proxyless: "true" }
spec: { serviceAccountName: ratings, containers: [{ name: app, image: ratings }] }
---
apiVersion: v1
kind: Service
metadata: { name: ratings, namespace: ${NS} }
spec:
  selector: { app: ratings }
  ports:
    - { name: grpc, port: 9090, targetPort: ${ports.mtls} }
    - { name: grpc-plain, port: 9091, targetPort: ${ports.plain} }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: ratings-1, namespace: ${NS}, labels: { kubernetes.io/service-name: ratings } }
addressType: IPv4
ports: [{ name: grpc, port: ${ports.mtls}, protocol: TCP }, { name: grpc-plain, port: ${ports.plain}, protocol: TCP }]
endpoints:
  - addresses: [${HOST}]
    conditions: { ready: true }
    targetRef: { kind: Pod, name: ratings-v1, namespace: ${NS} }
---
apiVersion: skiff.dev/v1alpha1
kind: PeerAuthentication
metadata: { name: ratings, namespace: ${NS} }
spec:
  selector: { matchLabels: { app: ratings } }
  mtls: { mode: STRICT }
  portLevelMtls:
    "${ports.plain}": { mode: DISABLE }
`;
}
