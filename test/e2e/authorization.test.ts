/**
 * AuthorizationPolicy on real Envoy sidecars (issue 16, item 5): ALLOW, DENY
 * and AUDIT at workload, namespace and mesh level, on HTTP, on TCP and on a
 * port no Service targets, from two meshed clients under different
 * ServiceAccounts (in two namespaces) and an outsider without a sidecar.
 *
 * Each level is one apply of three policies and one table of requests whose
 * rules, between them, use every `from`, `to` and `when` key of API.md
 * (request.auth keys need JWT, which Skiff does not have yet). Every denial
 * must name its policy and rule in web's access log and in its RBAC stats;
 * connections opened before a change must be decided by the new policy.
 */
import assert from "node:assert/strict";
import { envoyStats, eventually, readUntil, waitForEndpointCounts } from "./envoy-admin.js";
import { HeldClient, type TcpOutcome } from "./held-client.js";
import {
  apply,
  clientPod,
  curlEach,
  deleteNamespace,
  fortioDeployment,
  log,
  sidecarAccessLog,
  meshNamespace,
  podByPrefix,
  podOf,
  rest,
  service,
  skipUnlessSupported,
  waitPodsReady,
  waitProgrammed,
} from "./kit.js";

const NS = "e2e-authz";
const OTHER = "e2e-authz-other";
const ROOT = "skiff-system";
const WEB_HOST = `web.${NS}.svc.cluster.local`;
const ALPHA = `cluster.local/ns/${NS}/sa/alpha`;
const BETA = `cluster.local/ns/${OTHER}/sa/beta`;
/** fortio's HTTP redirector: a port web listens on that no Service targets. */
const UNSERVED_PORT = 8081;

type Caller = "alpha" | "beta" | "outsider";
const CALLER_NAMESPACE: Record<Caller, string> = { alpha: NS, beta: OTHER, outsider: NS };
/** How each caller names web: beta lives in the other namespace. */
const WEB_URL: Record<Caller, string> = {
  alpha: "http://web:8080",
  beta: `http://web.${NS}:8080`,
  outsider: "http://web:8080",
};

const ip: Record<Caller | "web", string> = { alpha: "", beta: "", outsider: "", web: "" };
let webPod = "";

/** One HTTP request of a table and what web's sidecar must make of it. */
interface HttpCase {
  from: Caller;
  method?: string;
  path: string;
  /** The Host header, where it is not the URL's. */
  host?: string;
  headers?: Record<string, string>;
  status: 200 | 403;
  /** The deciding rule of a denial (`ns/name/index`), or "none" when no ALLOW rule matched. */
  deniedBy?: string;
  /** The AUDIT rule that matched, if one did. */
  audited?: string;
}

/** One TCP exchange of a table: to web's Service port 8078 (fortio's echo) or to the unserved port on web's IP. */
interface TcpCase {
  from: Caller;
  port: 8078 | typeof UNSERVED_PORT;
  outcome: TcpOutcome;
  /** On 8078, the rule that closed the connection (`ns/name/index`, or "none" when no ALLOW rule matched). */
  deniedBy?: string;
}

const policy = (
  namespace: string,
  name: string,
  action: "ALLOW" | "DENY" | "AUDIT",
  rules: object[],
  selector?: Record<string, string>,
) => ({
  apiVersion: "skiff.dev/v1alpha1",
  kind: "AuthorizationPolicy",
  metadata: { name, namespace },
  spec: { ...(selector ? { selector: { matchLabels: selector } } : {}), action, rules },
});

async function applyProgrammed(policies: { metadata: { name: string; namespace: string } }[]): Promise<void> {
  await apply(policies);
  for (const p of policies)
    await waitProgrammed(p.metadata.namespace, "AuthorizationPolicy", p.metadata.name);
}

/** The JSON access-log lines of web's sidecar. */
const webAccessLog = () => sidecarAccessLog(NS, webPod);

/**
 * Sends a table's HTTP requests (each caller's on one curl) and checks, per
 * request, the status the caller got and what web's access log says decided
 * it. Each path carries `?case=<label>-<n>` (paths are matched without the
 * query), so its log line is found by path.
 */
async function checkHttp(label: string, cases: HttpCase[]): Promise<void> {
  const pathOf = (c: HttpCase, i: number) => `${c.path}?case=${label}-${i}`;
  const got = new Map<number, number>();
  for (const from of ["alpha", "beta", "outsider"] as const) {
    const mine = cases.map((c, i) => [c, i] as const).filter(([c]) => c.from === from);
    if (mine.length === 0) continue;
    const answers = await curlEach(
      CALLER_NAMESPACE[from],
      from,
      mine.map(([c, i]) => ({
        url: `${WEB_URL[from]}${pathOf(c, i)}`,
        args: [
          "-X",
          c.method ?? "GET",
          ...(c.host ? ["-H", `Host: ${c.host}`] : []),
          ...Object.entries(c.headers ?? {}).flatMap(([k, v]) => ["-H", `${k}: ${v}`]),
        ],
      })),
    );
    mine.forEach(([, i], j) => got.set(i, answers[j]!.status));
  }
  const describe = (c: HttpCase, status: number) =>
    `${c.from} ${c.method ?? "GET"} ${c.path}${c.host ? ` Host:${c.host}` : ""}${
      c.headers ? ` ${JSON.stringify(c.headers)}` : ""
    } -> ${status}`;
  assert.deepEqual(
    cases.map((c, i) => describe(c, got.get(i)!)),
    cases.map((c) => describe(c, c.status)),
  );

  const lines = await readUntil(
    `web's access log to hold the ${label} requests`,
    async () => {
      const byPath = new Map<string, Record<string, unknown>>();
      for (const line of webAccessLog()) if (typeof line.path === "string") byPath.set(line.path, line);
      return cases.map((c, i) => byPath.get(pathOf(c, i)));
    },
    (found) => found.every((l) => l !== undefined),
    { timeoutMs: 30_000, show: (found) => found.filter((l) => l === undefined).length },
  );
  const decided = (c: HttpCase) => ({
    code: c.status,
    details: c.deniedBy ? `rbac_access_denied_matched_policy[${c.deniedBy}]` : "via_upstream",
    audited: c.audited ?? null,
  });
  const seen = (line: Record<string, unknown>) => {
    const authorization = (line.authorization ?? {}) as Record<string, unknown>;
    return {
      code: line.response_code,
      details: line.response_code_details,
      audited: (authorization.skiff_audit_shadow_effective_policy_id as string | undefined) ?? null,
    };
  };
  assert.deepEqual(
    lines.map((l) => seen(l!)),
    cases.map(decided),
  );
}

/** web's access-log lines of TCP connections to its Service port 8078: who, and what ended each (the rule that closed it). */
function tcpLines(): [string, unknown][] {
  const callers = Object.fromEntries(Object.entries(ip).map(([k, v]) => [v, k]));
  return webAccessLog()
    .filter((l) => l.direction === "inbound" && l.downstream_local_address === `${ip.web}:8078`)
    .map((l) => [
      callers[String(l.downstream_remote_address).split(":")[0]!] ?? String(l.downstream_remote_address),
      l.connection_termination_details,
    ]);
}

/**
 * Sends a table's TCP exchanges, each on a new connection, and checks what
 * came of each; for port 8078 (the passthrough chains log nothing), also
 * what web's access log says ended it.
 */
async function checkTcp(clients: Record<Caller, HeldClient>, cases: TcpCase[]): Promise<void> {
  const logged = tcpLines().length;
  const outcomes = await Promise.all(
    cases.map((c) =>
      c.port === UNSERVED_PORT
        ? clients[c.from].tcp(ip.web, UNSERVED_PORT)
        : clients[c.from].tcp(c.from === "beta" ? `web.${NS}` : "web", 8078),
    ),
  );
  assert.deepEqual(
    cases.map((c, i) => `${c.from} -> ${c.port}: ${outcomes[i]}`),
    cases.map((c) => `${c.from} -> ${c.port}: ${c.outcome}`),
  );
  const served = cases.filter((c) => c.port === 8078);
  const lines = await readUntil(
    "web's access log to hold the TCP connections",
    async () => tcpLines().slice(logged),
    (found) => found.length >= served.length,
    { timeoutMs: 30_000 },
  );
  const order = (list: [string, unknown][]) => list.map((l) => JSON.stringify(l)).sort();
  assert.deepEqual(
    order(lines),
    order(
      served.map((c) => [c.from, c.deniedBy ? `rbac_access_denied_matched_policy[${c.deniedBy}]` : null]),
    ),
  );
}

/**
 * Waits until web's sidecar has closed every connection accepted under the
 * filter chains a policy change replaced (the sidecar's drain time, 45 s, at
 * most), so that a table's requests meet the new policy only, not the old one
 * on a connection a client's sidecar pooled before.
 */
async function drained(): Promise<void> {
  const start = Date.now();
  await readUntil(
    "web's old inbound filter chains to drain",
    async () =>
      (await envoyStats(NS, webPod, "^listener_manager.total_filter_chains_draining$")).get(
        "listener_manager.total_filter_chains_draining",
      ),
    (draining) => draining === 0,
    { timeoutMs: 60_000, intervalMs: 1_000 },
  );
  log(`web's replaced inbound chains drained ${Date.now() - start} ms after the checks began`);
}

/**
 * What a table's requests made web's RBAC filters count, read before and
 * after: every stat whose name holds `rbac` and that moved, with how much.
 */
async function rbacStatDeltas(action: () => Promise<void>): Promise<Record<string, number>> {
  const before = await envoyStats(NS, webPod, "rbac");
  await action();
  const after = await envoyStats(NS, webPod, "rbac");
  return Object.fromEntries(
    [...after]
      .map(([name, value]) => [name, value - (before.get(name) ?? 0)] as const)
      .filter(([, delta]) => delta !== 0)
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  );
}

describe("AuthorizationPolicy enforced by Envoy sidecars", function () {
  const clients = {} as Record<Caller, HeldClient>;

  before(async function () {
    skipUnlessSupported(this);
    await Promise.all([meshNamespace(NS), meshNamespace(OTHER)]);
    const account = (namespace: string, name: string) => ({
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name, namespace },
    });
    const asAccount = (pod: object, serviceAccountName: string) => {
      const p = pod as { spec: object };
      return { ...p, spec: { ...p.spec, serviceAccountName } };
    };
    await apply([
      account(NS, "alpha"),
      account(OTHER, "beta"),
      fortioDeployment(NS, "web", { args: ["-redirect-port", String(UNSERVED_PORT)] }),
      // fortio's server also runs its TCP echo on 8078.
      service(NS, "web", [
        { name: "http", port: 8080 },
        { name: "tcp-echo", port: 8078 },
      ]),
      asAccount(clientPod(NS, "alpha"), "alpha"),
      asAccount(clientPod(OTHER, "beta"), "beta"),
      clientPod(NS, "outsider", { "sidecar.skiff.dev/inject": "false" }),
    ]);
    await Promise.all([waitPodsReady(NS, 3), waitPodsReady(OTHER, 1)]);
    const web = await podByPrefix(NS, "web-");
    webPod = web.metadata.name;
    ip.web = web.status!.podIP!;
    for (const caller of ["alpha", "beta", "outsider"] as const)
      ip[caller] = (await podOf(CALLER_NAMESPACE[caller], `app=${caller}`)).status!.podIP!;
    const endpoints = { [`outbound|8080||${WEB_HOST}`]: 1, [`outbound|8078||${WEB_HOST}`]: 1 };
    await Promise.all([
      waitForEndpointCounts(NS, "alpha", endpoints),
      waitForEndpointCounts(OTHER, "beta", endpoints),
    ]);
    for (const caller of ["alpha", "beta", "outsider"] as const)
      clients[caller] = await HeldClient.start(CALLER_NAMESPACE[caller], caller);
    // A sidecar-less Pod's first connections to a ClusterIP can fail on the
    // local node (see capture.test.ts): wait until the outsider's path works.
    await eventually("the outsider to reach web", async () =>
      (await clients.outsider.tcp("web", 8078)) === "answered" ? true : undefined,
    );
  });

  after(async () => {
    for (const client of Object.values(clients)) client.stop();
    // Mesh-wide policies would outlive this file's namespaces and govern the next file's workloads.
    for (const name of ["mesh-allow", "mesh-deny", "mesh-audit"])
      await rest()
        .request("DELETE", `/apis/skiff.dev/v1alpha1/namespaces/${ROOT}/authorizationpolicies/${name}`)
        .catch(() => {});
    await Promise.all([deleteNamespace(NS), deleteNamespace(OTHER)]);
  });

  it("workload level (selector): ALLOW, DENY and AUDIT on HTTP, TCP and a port no Service targets", async () => {
    const web = { app: "web" };
    await applyProgrammed([
      policy(
        NS,
        "allow",
        "ALLOW",
        [
          {
            from: [{ source: { principals: [ALPHA] } }],
            to: [{ operation: { methods: ["GET"], paths: ["/echo*"], ports: ["8080"] } }],
          },
          {
            from: [{ source: { namespaces: [OTHER] } }],
            to: [{ operation: { hosts: [`web.${NS}:*`], notMethods: ["DELETE"], notPaths: ["/admin*"] } }],
          },
          {
            from: [
              { source: { ipBlocks: [`${ip.outsider}/32`], notPrincipals: [ALPHA], notNamespaces: [OTHER] } },
            ],
            to: [{ operation: { notHosts: ["evil.*"] } }],
            when: [{ key: "request.headers[x-token]", values: ["letmein"] }],
          },
          { from: [{ source: { principals: [ALPHA] } }], to: [{ operation: { ports: ["8078"] } }] },
          {
            from: [{ source: { notIpBlocks: [`${ip.alpha}/32`] } }],
            to: [{ operation: { ports: [String(UNSERVED_PORT)] } }],
          },
        ],
        web,
      ),
      policy(
        NS,
        "deny",
        "DENY",
        [
          {
            // On TCP a DENY rule ignores paths (Istio): without the port it would close alpha's TCP too.
            to: [{ operation: { paths: ["/echo/secret"], ports: ["8080"] } }],
            when: [{ key: "source.principal", values: [ALPHA] }],
          },
          // Envoy takes remote.ip from X-Forwarded-For (no trusted hops: its last address).
          { when: [{ key: "remote.ip", values: ["203.0.113.0/24"] }] },
          { from: [{ source: { namespaces: [OTHER] } }], to: [{ operation: { notPorts: ["8080"] } }] },
        ],
        web,
      ),
      policy(NS, "audit", "AUDIT", [{ to: [{ operation: { methods: ["POST"] } }] }], web),
    ]);
    // Opened now, while alpha may use both; the next test changes the policies under them.
    assert.deepEqual(await clients.alpha.http(`${WEB_URL.alpha}/echo`), {
      status: 200,
      reusedConnection: false,
    });
    assert.equal(await clients.alpha.hold("web", 8078), "answered");

    const http = await rbacStatDeltas(() =>
      checkHttp("workload", [
        { from: "alpha", path: "/echo", status: 200 },
        {
          from: "alpha",
          method: "POST",
          path: "/echo",
          status: 403,
          deniedBy: "none",
          audited: `${NS}/audit/0`,
        },
        { from: "alpha", path: "/echo/secret", status: 403, deniedBy: `${NS}/deny/0` },
        {
          from: "alpha",
          path: "/echo",
          headers: { "x-forwarded-for": "203.0.113.7" },
          status: 403,
          deniedBy: `${NS}/deny/1`,
        },
        { from: "beta", path: "/echo", status: 200 },
        { from: "beta", method: "POST", path: "/anything", status: 200, audited: `${NS}/audit/0` },
        { from: "beta", method: "DELETE", path: "/echo", status: 403, deniedBy: "none" },
        { from: "beta", path: "/admin", status: 403, deniedBy: "none" },
        { from: "outsider", path: "/echo", headers: { "x-token": "letmein" }, status: 200 },
        { from: "outsider", path: "/echo", status: 403, deniedBy: "none" },
        {
          from: "outsider",
          path: "/echo",
          host: "evil.example",
          headers: { "x-token": "letmein" },
          status: 403,
          deniedBy: "none",
        },
      ]),
    );
    // Each filter counts under its own prefix, so a rename fails here. AUDIT's
    // LOG rules count every request as shadow_allowed (which rule matched is
    // in the access log); its enforced rules are an empty DENY, unprefixed.
    const HTTP_RBAC = "http.inbound|8080||.rbac.";
    assert.deepEqual(http, {
      [`${HTTP_RBAC}allowed`]: 11,
      [`${HTTP_RBAC}skiff_allow_.allowed`]: 4,
      [`${HTTP_RBAC}skiff_allow_.denied`]: 5,
      [`${HTTP_RBAC}skiff_audit_.shadow_allowed`]: 11,
      [`${HTTP_RBAC}skiff_deny_.allowed`]: 9,
      [`${HTTP_RBAC}skiff_deny_.denied`]: 2,
    });

    const tcp = await rbacStatDeltas(() =>
      checkTcp(clients, [
        { from: "alpha", port: 8078, outcome: "answered" },
        { from: "beta", port: 8078, outcome: "closed", deniedBy: `${NS}/deny/2` },
        { from: "outsider", port: 8078, outcome: "closed", deniedBy: "none" },
        { from: "alpha", port: UNSERVED_PORT, outcome: "closed" },
        { from: "beta", port: UNSERVED_PORT, outcome: "answered" },
        { from: "outsider", port: UNSERVED_PORT, outcome: "answered" },
      ]),
    );
    // Network RBAC has no rules_stat_prefix: AUDIT's empty enforced rules, DENY
    // and ALLOW all count under `tcp.rbac.` (6 + 5 + 3 allowed, 1 + 2 denied);
    // the ALLOW filter's shadow copy of its rules counts under skiff_allow_.
    assert.deepEqual(tcp, {
      "tcp.rbac.allowed": 14,
      "tcp.rbac.denied": 3,
      "tcp.rbac.skiff_allow_.shadow_allowed": 3,
      "tcp.rbac.skiff_allow_.shadow_denied": 2,
      "tcp.rbac.skiff_audit_.shadow_allowed": 6,
    });
  });

  it("namespace level, decided anew on connections opened under the workload level", async () => {
    await applyProgrammed([
      policy(NS, "allow", "ALLOW", [
        {
          when: [
            { key: "source.namespace", values: [OTHER] },
            { key: "destination.port", values: ["8080"] },
            { key: "connection.sni", values: ["outbound_.8080_*"] },
          ],
        },
        {
          when: [
            { key: "source.ip", values: [ip.outsider] },
            { key: "destination.ip", values: [ip.web] },
          ],
        },
      ]),
      policy(NS, "deny", "DENY", [
        {
          from: [{ source: { notNamespaces: [NS] } }],
          to: [{ operation: { paths: ["/private*"], ports: ["8080"] } }],
          when: [{ key: "request.headers[x-role]", notValues: ["admin"] }],
        },
      ]),
      policy(NS, "audit", "AUDIT", [{ from: [{ source: { namespaces: [OTHER] } }] }]),
    ]);
    // alpha's keep-alive connection, opened under the workload level, stays open
    // to alpha's sidecar; behind it, alpha's sidecar pooled an mTLS connection to
    // web's old inbound chain. Envoy's filters on a connection are those of the
    // chain it was accepted on, so that connection still carries the old RBAC:
    // its next request is decided by the workload level (200), and the drain
    // (immediate) closes it after that answer. The request after meets the new
    // policy. (With Envoy's default drain, such connections kept the old
    // policy for minutes.)
    const [first, second] = [
      await clients.alpha.http(`${WEB_URL.alpha}/echo`),
      await clients.alpha.http(`${WEB_URL.alpha}/echo`),
    ];
    assert.deepEqual(
      [first, second],
      [
        { status: 200, reusedConnection: true },
        { status: 403, reusedConnection: true },
      ],
    );
    // Network RBAC decided alpha's TCP connection when it opened; the drain
    // closes it at its next byte, which its access-log line shows (no RBAC
    // denial: the old chain still allowed it).
    const logged = tcpLines().length;
    assert.equal(await clients.alpha.sendHeld(), "closed");
    const held = await readUntil(
      "web's access log to hold alpha's held TCP connection",
      async () => tcpLines().slice(logged),
      (lines) => lines.length > 0,
      { timeoutMs: 30_000 },
    );
    assert.deepEqual(held, [["alpha", null]]);

    await checkTcp(clients, [
      { from: "alpha", port: 8078, outcome: "closed", deniedBy: "none" },
      { from: "beta", port: 8078, outcome: "closed", deniedBy: "none" },
      { from: "outsider", port: 8078, outcome: "answered" },
      { from: "alpha", port: UNSERVED_PORT, outcome: "closed" },
      { from: "beta", port: UNSERVED_PORT, outcome: "closed" },
      { from: "outsider", port: UNSERVED_PORT, outcome: "answered" },
    ]);
    // New TCP connections meet the new chain; pooled HTTP ones must drain first.
    await drained();
    await checkHttp("namespace", [
      { from: "beta", path: "/echo", status: 200, audited: `${NS}/audit/0` },
      { from: "beta", path: "/private", status: 403, deniedBy: `${NS}/deny/0`, audited: `${NS}/audit/0` },
      {
        from: "beta",
        path: "/private",
        headers: { "x-role": "admin" },
        status: 200,
        audited: `${NS}/audit/0`,
      },
      { from: "outsider", path: "/echo", status: 200 },
      { from: "alpha", path: "/echo", status: 403, deniedBy: "none" },
    ]);
  });

  it("mesh level (root namespace): on every workload, a DENY rule's HTTP-only fields ignored on TCP", async () => {
    for (const name of ["allow", "deny", "audit"])
      await rest().request(
        "DELETE",
        `/apis/skiff.dev/v1alpha1/namespaces/${NS}/authorizationpolicies/${name}`,
      );
    await applyProgrammed([
      policy(ROOT, "mesh-allow", "ALLOW", [
        { to: [{ operation: { methods: ["GET"], ports: ["8080"] } }] },
        { from: [{ source: { principals: [BETA] } }], to: [{ operation: { ports: ["8078"] } }] },
      ]),
      policy(ROOT, "mesh-deny", "DENY", [
        {
          to: [{ operation: { ports: ["8080"] } }],
          when: [{ key: "request.headers[x-mesh-deny]", values: ["yes"] }],
        },
        {
          from: [{ source: { principals: [ALPHA] } }],
          to: [{ operation: { methods: ["POST"], ports: ["8078"] } }],
        },
      ]),
      policy(ROOT, "mesh-audit", "AUDIT", [{ to: [{ operation: { paths: ["/echo*"] } }] }]),
    ]);
    await checkTcp(clients, [
      // mesh-deny/1 names POST, which TCP cannot see: on TCP the rule is alpha to 8078.
      { from: "alpha", port: 8078, outcome: "closed", deniedBy: `${ROOT}/mesh-deny/1` },
      { from: "beta", port: 8078, outcome: "answered" },
      { from: "outsider", port: 8078, outcome: "closed", deniedBy: "none" },
    ]);
    // New TCP connections meet the new chain; pooled HTTP ones must drain first.
    await drained();
    await checkHttp("mesh", [
      { from: "alpha", path: "/echo", status: 200, audited: `${ROOT}/mesh-audit/0` },
      {
        from: "alpha",
        path: "/echo",
        headers: { "x-mesh-deny": "yes" },
        status: 403,
        deniedBy: `${ROOT}/mesh-deny/0`,
        audited: `${ROOT}/mesh-audit/0`,
      },
      {
        from: "beta",
        method: "POST",
        path: "/echo",
        status: 403,
        deniedBy: "none",
        audited: `${ROOT}/mesh-audit/0`,
      },
      { from: "outsider", path: "/other", status: 200 },
    ]);
  });
});
