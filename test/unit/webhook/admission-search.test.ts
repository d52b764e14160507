import assert from "node:assert/strict";
import { fork, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from "node:http";
import { Agent, request as httpsRequest } from "node:https";
import { join } from "node:path";
import { createInterface } from "node:readline";
import fc from "fast-check";
import fastJsonPatch from "fast-json-patch";
import { parse } from "yaml";
import { validateObject } from "../../../src/api/v1alpha1/validate.js";
import { MAX_BODY_BYTES } from "../../../src/webhook/server.js";
import {
  looseAuthorizationPolicySpec,
  looseMeshSpec,
  loosePeerAuthenticationSpec,
  looseTrafficPolicySpec,
} from "../../support/arbitrary-custom-resources.js";
import { clusterStateFromFiles } from "../../support/cluster-state.js";

/**
 * Issue 14, second invariant, the admission half: no AdmissionReview body
 * crashes the operator's webhooks or makes them keep memory. Searched with
 * fast-check against the webhooks as the operator starts them
 * (startWebhook: /inject, and /validate for Mesh, TrafficPolicy and AuthorizationPolicy, with
 * their informers, TLS Secret and API lookups), in a process of their own,
 * over HTTPS, with a fake API server here that holds an active Mesh, the
 * bookinfo namespace (selected for injection) and its objects. The bodies,
 * on each path:
 *
 * - bytes: anything, and reviews cut short or with a byte changed;
 * - JSON: any value (fast-check's jsonValue and anything);
 * - AdmissionReview-shaped JSON whose request fields are each either right
 *   or anything, with objects of every kind (Pod, Mesh, TrafficPolicy,
 *   PeerAuthentication, AuthorizationPolicy), right or anything;
 * - valid reviews of each kind (objects from the generators the admission
 *   search uses, test/support/arbitrary-custom-resources.ts, and Pods with
 *   the injector's annotations), then mutated: a value anywhere replaced by
 *   any JSON or null, nested 100,000 deep, wrapped in an array or removed,
 *   or a string made up to a MiB long (sometimes sent eight times with
 *   different ends, so that anything kept per value adds up). Unmutated,
 *   they are what the API server sends; they also go to the wrong path.
 *
 * Every answer is a well-formed admission.k8s.io/v1 AdmissionReview
 * response with the request's uid (a denial has a code and a message; a
 * patch is a base64 JSON patch, and a Pod's applies to it), or a 4xx with a
 * JSON error; never a 5xx. A review as the API server sends it (the
 * unmutated tier) never makes a handler fail (a denial with code 500).
 * After every case the process is alive, nothing in it went unhandled, and
 * a Pod is still injected. At the end, with every connection closed, the
 * process holds at most RETAINED_BOUND more memory than after a warm-up.
 *
 * `make test-unit` runs a seeded budget; `make search` (SKIFF_SEARCH_RUNS,
 * SKIFF_SEARCH_SEED) a longer one with a fresh seed.
 */

const LONG_RUNS = Number(process.env["SKIFF_SEARCH_RUNS"] ?? 0);
const SEED =
  process.env["SKIFF_SEARCH_SEED"] !== undefined
    ? Number(process.env["SKIFF_SEARCH_SEED"])
    : LONG_RUNS > 0
      ? Date.now() % 2 ** 31
      : 14_0012;
const RUNS = {
  bytes: LONG_RUNS || 60,
  json: LONG_RUNS || 60,
  shaped: LONG_RUNS || 120,
  mutated: LONG_RUNS || 300,
};

const MiB = 1024 * 1024;
/**
 * What the webhooks may hold after the search, with every connection
 * closed, over what they held after a warm-up. A request keeps nothing: the
 * only state requests feed is the cache of RE2 verdicts, 4096 patterns of
 * at most the CRD's 1024 characters since the fix below (the search's are
 * mostly short: well under a MiB of it). The rest is V8's code for paths
 * first taken late, TLS session state and allocator slack: about 0.5 MiB
 * at the unit budget, about 1 MiB at 1000 runs a tier. 8 MiB is what eight
 * of the 1 MiB values the search sends would make if they were kept (one
 * long value sent as eight variants), and what a leak of 1 KiB a request
 * would at make search's 80,000 requests.
 */
const RETAINED_BOUND = 8 * MiB;

const CHILD = join(import.meta.dirname, "webhook.child.ts");
const REPO = join(import.meta.dirname, "..", "..", "..");
const sample = (file: string) =>
  parse(readFileSync(join(REPO, "config", "samples", file), "utf8")) as Record<string, unknown>;
const BOOKINFO = clusterStateFromFiles(join(REPO, "test", "testdata", "translate", "base.yaml"));

// --- The fake API server ------------------------------------------------------------

const MESH = {
  ...sample("skiff.dev_v1alpha1_mesh.yaml"),
  metadata: { name: "default", resourceVersion: "1", creationTimestamp: "2024-01-01T00:00:00Z" },
};
const namespace = (name: string, labels: Record<string, string>) => ({
  apiVersion: "v1",
  kind: "Namespace",
  metadata: { name, labels, resourceVersion: "1" },
});
const NAMESPACES = [
  namespace("bookinfo", { "skiff.dev/injection": "enabled" }),
  namespace("default", { "skiff.dev/injection": "enabled" }),
  namespace("skiff-system", {}),
];
const list = (items: unknown[]) => ({ metadata: { resourceVersion: "1" }, items });
const inNamespace = (items: readonly { metadata?: { namespace?: string } }[], ns: string) =>
  items.filter((i) => (i.metadata?.namespace ?? "") === ns);

/**
 * Just what startWebhook and the handlers ask of the API server: discovery,
 * lists and (never-ending, silent) watches of Meshes and Namespaces, the TLS
 * Secret, no webhook configurations, and a namespace's objects.
 */
function fakeApiServer(watches: Set<ServerResponse>): HttpServer {
  let secret: unknown;
  const json = (res: ServerResponse, status: number, body: unknown) =>
    res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(body));
  return createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://fake");
    const path = url.pathname;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (url.searchParams.get("watch") === "true") {
        res.writeHead(200, { "Content-Type": "application/json" });
        res.flushHeaders();
        watches.add(res);
        res.on("close", () => watches.delete(res));
        return;
      }
      const lists: Record<string, () => unknown[]> = {
        "/apis/skiff.dev/v1alpha1/meshes": () => [MESH],
        "/api/v1/namespaces": () => NAMESPACES,
      };
      if (path === "/api/v1")
        return json(res, 200, {
          resources: [
            { name: "namespaces", kind: "Namespace", namespaced: false },
            { name: "secrets", kind: "Secret", namespaced: true },
          ],
        });
      if (path === "/apis/skiff.dev/v1alpha1")
        return json(res, 200, {
          resources: [
            { name: "meshes", kind: "Mesh", namespaced: false },
            { name: "trafficpolicies", kind: "TrafficPolicy", namespaced: true },
          ],
        });
      if (lists[path]) return json(res, 200, list(lists[path]()));
      if (path.startsWith("/api/v1/namespaces/skiff-system/secrets")) {
        if (req.method === "GET")
          return secret ? json(res, 200, secret) : json(res, 404, { kind: "Status", code: 404 });
        secret = { ...JSON.parse(Buffer.concat(chunks).toString()), metadata: { resourceVersion: "1" } };
        return json(res, 201, secret);
      }
      const namespaced = /^\/(?:api\/v1|apis\/[^/]+\/[^/]+)\/namespaces\/([^/]+)\/([^/]+)$/.exec(path);
      if (namespaced && req.method === "GET") {
        const [, ns, resource] = namespaced as unknown as [string, string, string];
        const of: Record<string, readonly { metadata?: { name?: string; namespace?: string } }[]> = {
          services: BOOKINFO.services,
          endpointslices: BOOKINFO.endpointSlices,
          pods: BOOKINFO.pods,
          trafficpolicies: [
            {
              ...sample("skiff.dev_v1alpha1_trafficpolicy.yaml"),
              metadata: { name: "reviews", namespace: "bookinfo" },
            },
          ],
        };
        if (of[resource]) return json(res, 200, list(inNamespace(of[resource], ns)));
      }
      json(res, 404, { kind: "Status", code: 404, message: `${req.method} ${path}` });
    });
  });
}

// --- Objects and reviews -------------------------------------------------------------

type Json = Record<string, unknown>;
type Kind = "Pod" | "Mesh" | "TrafficPolicy" | "PeerAuthentication" | "AuthorizationPolicy";
const GVK: Record<Kind, { group: string; version: string; resource: string; path: string }> = {
  Pod: { group: "", version: "v1", resource: "pods", path: "/inject" },
  Mesh: { group: "skiff.dev", version: "v1alpha1", resource: "meshes", path: "/validate" },
  TrafficPolicy: { group: "skiff.dev", version: "v1alpha1", resource: "trafficpolicies", path: "/validate" },
  PeerAuthentication: {
    group: "skiff.dev",
    version: "v1alpha1",
    resource: "peerauthentications",
    path: "/validate",
  },
  AuthorizationPolicy: {
    group: "skiff.dev",
    version: "v1alpha1",
    resource: "authorizationpolicies",
    path: "/validate",
  },
};
const KINDS = Object.keys(GVK) as Kind[];
/** The kinds the webhook configurations (config/webhook) send: each to its path. */
const ROUTED: ReadonlySet<Kind> = new Set(["Pod", "Mesh", "TrafficPolicy", "AuthorizationPolicy"]);

/**
 * Whether the API server could send this review: a kind the configurations
 * route to this path, and (validation comes after the schema) a custom
 * object that its CRD's schema takes. A Pod reaches the injector before
 * any validation, so any typed Pod may (one without containers, say).
 */
function sentByApiServer(review: Review): boolean {
  if (review.path !== GVK[review.kind].path || !ROUTED.has(review.kind)) return false;
  if (review.kind === "Pod") return true;
  const request = review.body.request as { object: unknown; oldObject?: unknown };
  return (
    validateObject(request.object).length === 0 &&
    (request.oldObject === undefined || validateObject(request.oldObject).length === 0)
  );
}

const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?$/);
/** The injector's annotations, with values it takes and values it must refuse. */
const podAnnotations = fc.dictionary(
  fc.constantFrom(
    "sidecar.skiff.dev/inject",
    "sidecar.skiff.dev/status",
    "proxy.skiff.dev/holdApplicationUntilProxyStarts",
    "proxy.skiff.dev/proxyless",
    "traffic.skiff.dev/excludeInboundPorts",
    "traffic.skiff.dev/excludeOutboundPorts",
    "traffic.skiff.dev/excludeOutboundIPRanges",
    "app.kubernetes.io/name",
  ),
  fc.oneof(
    fc.constantFrom("true", "false", "", "8080", "8080,9090", " 15001 ", "0", "65536", "http", "1,,2"),
    fc.constantFrom("10.0.0.0/8", "10.0.0.0/8,fd00::/8", "169.254.169.254/32", "10.0.0.1", "::/0", "a/b"),
    fc.string({ maxLength: 12 }),
  ),
  { maxKeys: 4 },
);
const container = fc.record(
  {
    name: fc.oneof(
      { weight: 8, arbitrary: label },
      { weight: 1, arbitrary: fc.constantFrom("skiff-proxy", "skiff-init") },
    ),
    image: fc.constantFrom("nginx", "reviews:v1"),
    ports: fc.array(fc.record({ containerPort: fc.integer({ min: 1, max: 65535 }) }), { maxLength: 2 }),
  },
  { requiredKeys: ["name", "image"] },
);
const pod: fc.Arbitrary<Json> = fc.record({
  apiVersion: fc.constant("v1"),
  kind: fc.constant("Pod"),
  metadata: fc
    .record(
      {
        name: label,
        generateName: fc.constant("reviews-"),
        labels: fc.dictionary(label, label, { maxKeys: 2 }),
        annotations: podAnnotations,
      },
      { requiredKeys: [] },
    )
    .map((m) => ({ ...m, namespace: "bookinfo" })),
  spec: fc.record(
    {
      containers: fc.oneof(
        { weight: 12, arbitrary: fc.array(container, { minLength: 1, maxLength: 3 }) },
        { weight: 1, arbitrary: fc.constantFrom([], undefined) },
      ),
      initContainers: fc.array(container, { maxLength: 2 }),
      volumes: fc.array(fc.record({ name: label, emptyDir: fc.constant({}) }), { maxLength: 2 }),
      serviceAccountName: label,
      hostNetwork: fc.constantFrom(false, false, false, true),
      terminationGracePeriodSeconds: fc.integer({ min: 0, max: 60 }),
    },
    { requiredKeys: ["containers"] },
  ),
});
const custom = (kind: Kind, spec: fc.Arbitrary<Json>, namespaced = true): fc.Arbitrary<Json> =>
  fc.record({
    apiVersion: fc.constant("skiff.dev/v1alpha1"),
    kind: fc.constant(kind),
    metadata: namespaced
      ? fc.record({ name: fc.oneof(label, fc.constant("reviews")), namespace: fc.constant("bookinfo") })
      : fc.record({ name: fc.constant("default") }),
    spec,
  });
const SERVICES = ["reviews", "ratings", "productpage", "details", "nowhere"];
const objectOf: Record<Kind, fc.Arbitrary<Json>> = {
  Pod: pod,
  Mesh: custom("Mesh", looseMeshSpec({ "skiff.dev/injection": "enabled" }), false),
  TrafficPolicy: custom("TrafficPolicy", looseTrafficPolicySpec(SERVICES)),
  PeerAuthentication: custom("PeerAuthentication", loosePeerAuthenticationSpec([9080, 9090])),
  AuthorizationPolicy: custom("AuthorizationPolicy", looseAuthorizationPolicySpec(["bookinfo"], [9080])),
};

interface Review {
  readonly path: string;
  readonly body: Json;
  readonly kind: Kind;
}

/** A review as the API server sends it, of one kind, to its path (or, sometimes, another's). */
const validReview: fc.Arbitrary<Review> = fc
  .constantFrom(...KINDS)
  .chain((kind) =>
    fc.record({
      kind: fc.constant(kind),
      path: fc.oneof(
        { weight: 6, arbitrary: fc.constant(GVK[kind].path) },
        { weight: 1, arbitrary: fc.constantFrom("/inject", "/validate") },
      ),
      uid: fc.uuid(),
      operation: fc.constantFrom("CREATE", "UPDATE"),
      object: objectOf[kind],
      oldObject: objectOf[kind],
      dryRun: fc.boolean(),
    }),
  )
  .map(({ kind, path, uid, operation, object, oldObject, dryRun }) => {
    const { group, version, resource } = GVK[kind];
    const metadata = object.metadata as { name?: string; namespace?: string };
    return {
      kind,
      path,
      body: {
        apiVersion: "admission.k8s.io/v1",
        kind: "AdmissionReview",
        request: {
          uid,
          kind: { group, version, kind },
          resource: { group, version, resource },
          requestKind: { group, version, kind },
          ...(metadata.name ? { name: metadata.name } : {}),
          ...(metadata.namespace ? { namespace: metadata.namespace } : {}),
          operation,
          userInfo: { username: "system:serviceaccount:kube-system:replicaset-controller", groups: [] },
          object,
          ...(operation === "UPDATE" ? { oldObject } : {}),
          dryRun,
          options: {
            apiVersion: "meta.k8s.io/v1",
            kind: `${operation === "CREATE" ? "Create" : "Update"}Options`,
          },
        },
      },
    };
  });

/** A marker for a value built into the JSON text: nesting too deep for JSON.stringify here. */
const DEEP = "\u0000deep:";

type JsonMutation = {
  readonly within: "review" | "request" | "object";
  readonly steps: readonly number[];
  readonly action:
    | { readonly op: "replace"; readonly value: unknown }
    | { readonly op: "delete" | "wrap" }
    /**
     * The leaf-th string under the root made `length` long (itself
     * repeated): past every schema limit. With `variants`, the review is
     * sent that many times, each with another such string, so that state
     * kept per value (a cache) adds up past the memory bound.
     */
    | { readonly op: "long"; readonly length: number; readonly leaf: number; readonly variants: number }
    | { readonly op: "deep"; readonly depth: number };
};
const jsonMutation: fc.Arbitrary<JsonMutation> = fc.record({
  within: fc.constantFrom("review", "request", "object", "object"),
  steps: fc.array(fc.nat(), { maxLength: 10 }),
  action: fc.oneof(
    {
      weight: 4,
      arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => ({ op: "replace" as const, value })),
    },
    {
      weight: 2,
      arbitrary: fc
        .constantFrom(null, "", 0, -1, 1e308, true, [], {}, "../..", "__proto__")
        .map((value) => ({ op: "replace" as const, value })),
    },
    { weight: 2, arbitrary: fc.constantFrom("delete" as const, "wrap" as const).map((op) => ({ op })) },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant("long" as const),
        length: fc.constantFrom(1025, 65_537, MiB),
        leaf: fc.nat(),
        variants: fc.constantFrom(1, 1, 8),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(64, 10_000, 100_000).map((depth) => ({ op: "deep" as const, depth })),
    },
  ),
});

const isContainer = (v: unknown): v is Record<string, unknown> | unknown[] =>
  typeof v === "object" && v !== null;

/**
 * Applies a mutation: from its root (the review, its request or the
 * object), each step picks a child; what the steps reach is changed.
 * Returns the review, which the mutation may have replaced. Variants of a
 * long string differ in their end.
 */
function applyMutation(review: unknown, m: JsonMutation, variant = 0): unknown {
  const holder: Record<string, unknown> = { review };
  // Assigned in descend: declared wide, or TypeScript narrows them to their first values.
  let parent = holder as Record<string | number, unknown> | unknown[];
  let key = "review" as string | number;
  const descend = (pick: (keys: (string | number)[]) => string | number | undefined): boolean => {
    const node: unknown = (parent as Record<string | number, unknown>)[key];
    if (!isContainer(node)) return false;
    const next = pick(Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node));
    if (next === undefined) return false;
    parent = node;
    key = next;
    return true;
  };
  for (const name of m.within === "review"
    ? []
    : m.within === "request"
      ? ["request"]
      : ["request", "object"])
    if (!descend((keys) => (keys.includes(name) ? name : undefined))) break;
  if (m.action.op === "long") {
    const leaves: [Record<string | number, unknown>, string | number][] = [];
    const collect = (node: unknown) => {
      if (!isContainer(node)) return;
      for (const [k, v] of Object.entries(node)) {
        const key = Array.isArray(node) ? Number(k) : k;
        if (typeof v === "string") leaves.push([node as Record<string | number, unknown>, key]);
        else collect(v);
      }
    };
    collect((parent as Record<string | number, unknown>)[key]);
    if (leaves.length > 0) [parent, key] = leaves[m.action.leaf % leaves.length]!;
  } else for (const step of m.steps) if (!descend((keys) => keys[step % keys.length])) break;
  const target = parent as Record<string | number, unknown>;
  const current = target[key];
  switch (m.action.op) {
    case "replace":
      target[key] = m.action.value;
      break;
    case "delete":
      if (Array.isArray(parent)) parent.splice(Number(key), 1);
      else delete target[key];
      break;
    case "wrap":
      target[key] = [current];
      break;
    case "long": {
      const unit = typeof current === "string" && current.length > 0 ? current : "a";
      const suffix = variant > 0 ? String(variant) : "";
      target[key] =
        unit.repeat(Math.ceil(m.action.length / unit.length)).slice(0, m.action.length - suffix.length) +
        suffix;
      break;
    }
    case "deep":
      target[key] = `${DEEP}${m.action.depth}`;
      break;
  }
  return holder.review;
}

/** The body's text, with deep nesting built in. */
function serialize(value: unknown): string {
  const text = JSON.stringify(value) ?? "";
  return text.replace(new RegExp(`"\\\\u0000deep:(\\d+)"`, "g"), (_, depth: string) => {
    const n = Number(depth);
    return "[".repeat(n) + "]".repeat(n);
  });
}

const PATHS = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom("/inject", "/validate") },
  { weight: 1, arbitrary: fc.constantFrom("/", "/healthz", "/inject/", "/validate?timeout=10s", "/mutate") },
);
const CONTENT_TYPES = fc.oneof(
  { weight: 12, arbitrary: fc.constant("application/json") },
  {
    weight: 1,
    arbitrary: fc.constantFrom("application/json; charset=utf-8", "APPLICATION/JSON", "text/plain", ""),
  },
);

// --- The search -----------------------------------------------------------------

interface Answer {
  status: number;
  text: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("invariant: no AdmissionReview body crashes the webhooks or leaks (fast-check, seeded)", function () {
  this.timeout(LONG_RUNS > 0 ? 0 : 60_000);
  let child: ChildProcess;
  let apiServer: HttpServer;
  const watches = new Set<ServerResponse>();
  let port: number;
  let ca: string;
  let agent: Agent;
  let stderr = "";
  const fatal: string[] = [];
  const onFatal = (err: unknown) =>
    fatal.push(`test process: ${err instanceof Error ? err.stack : String(err)}`);
  let baseline = 0;
  const outcomes = new Map<string, number>();
  const count = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);

  async function startChild(): Promise<void> {
    fatal.length = 0;
    stderr = "";
    const apiPort = (apiServer.address() as { port: number }).port;
    child = fork(CHILD, [], {
      execArgv: ["--expose-gc", "--import", "tsx"],
      env: { ...process.env, SKIFF_TEST_API_SERVER: `http://127.0.0.1:${apiPort}` },
      stdio: ["ignore", "pipe", "pipe", "ipc"],
    });
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("message", (m: { fatal?: string }) => {
      if (m.fatal) fatal.push(`webhook process: ${m.fatal}`);
    });
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once("line", resolve);
      child.once("exit", (code) => reject(new Error(`the webhooks exited (${code}): ${stderr}`)));
    });
    ({ port, ca } = JSON.parse(line) as { port: number; ca: string });
    agent?.destroy();
    agent = new Agent({ keepAlive: true, ca, maxSockets: 2 });
  }

  /** After a failed case (which may have ended the process), the next one, shrinking it, gets a fresh process. */
  async function freshProcessIfFailed(): Promise<void> {
    if (fatal.length === 0 && child.exitCode === null && child.signalCode === null) return;
    if (child.exitCode === null) child.kill();
    await startChild();
  }

  const memory = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const onMessage = (reply: { bytes?: number }) => {
        if (reply.bytes === undefined) return;
        child.off("exit", onExit);
        child.off("message", onMessage);
        resolve(reply.bytes);
      };
      const onExit = () =>
        reject(new Error(`the webhooks exited: ${fatal.join("\n")} ${stderr.slice(-4000)}`));
      child.on("message", onMessage);
      child.once("exit", onExit);
      child.send("memory");
    });

  function send(
    path: string,
    body: string | Buffer,
    contentType: string | undefined = "application/json",
  ): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        {
          host: "127.0.0.1",
          port,
          method: "POST",
          path,
          agent,
          headers: contentType === undefined ? {} : { "Content-Type": contentType },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
          );
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      // The API server waits 10 s at most (timeoutSeconds); a slower answer is a hang.
      req.setTimeout(30_000, () => req.destroy(new Error(`no answer to POST ${path} in 30 s`)));
      req.end(body);
    });
  }

  /**
   * A well-formed answer to `sent`: an AdmissionReview with its uid, or a
   * 4xx with a JSON error. Returns the review's response, if any.
   */
  function wellFormed(answer: Answer, sent: unknown, path: string): Json | undefined {
    assert.ok(answer.status < 500, `status ${answer.status}: ${answer.text.slice(0, 500)}`);
    if (answer.status !== 200) {
      assert.ok(answer.status >= 400, `status ${answer.status}`);
      // 404 (no such path) has no body.
      if (answer.status !== 404) {
        const error = (JSON.parse(answer.text) as Json).error;
        assert.equal(typeof error, "string", answer.text.slice(0, 500));
      }
      count(`${path} ${answer.status}`);
      return undefined;
    }
    const body = JSON.parse(answer.text) as Json;
    assert.equal(body.apiVersion, "admission.k8s.io/v1");
    assert.equal(body.kind, "AdmissionReview");
    const response = body.response as Json;
    const uid = ((sent as { request?: { uid?: unknown } } | null)?.request ?? {}).uid;
    assert.equal(typeof uid, "string", "answered a review without a uid");
    assert.equal(response.uid, uid);
    assert.equal(typeof response.allowed, "boolean");
    if (response.allowed) {
      assert.equal(response.status, undefined);
      if (response.patch !== undefined) {
        assert.equal(response.patchType, "JSONPatch");
        const patch = JSON.parse(Buffer.from(response.patch as string, "base64").toString()) as unknown;
        assert.ok(Array.isArray(patch) && patch.length > 0, "the patch is not a list of operations");
        for (const op of patch as Json[]) assert.ok(typeof op.op === "string" && typeof op.path === "string");
      }
      if (response.warnings !== undefined)
        assert.ok(
          Array.isArray(response.warnings) && response.warnings.every((w) => typeof w === "string"),
          "warnings are not strings",
        );
    } else {
      const status = response.status as { code?: unknown; message?: unknown };
      assert.ok(Number.isInteger(status.code), JSON.stringify(status));
      assert.equal(typeof status.message, "string");
    }
    const handlerFailed = !response.allowed && (response.status as { code: number }).code >= 500;
    const kind = (sent as { request?: { kind?: { kind?: unknown } } }).request?.kind?.kind;
    const outcome = response.allowed
      ? response.patch
        ? "patched"
        : "allowed"
      : handlerFailed
        ? `handler failed: ${(response.status as { message: string }).message.slice(0, 100)}`
        : "denied";
    count(`${path} ${String(kind).slice(0, 24)} ${outcome}`);
    return response;
  }

  /** The process is alive, nothing went unhandled, and a Pod in bookinfo gets its sidecar. */
  async function assertServing(what: string): Promise<void> {
    assert.deepEqual(fatal, [], `${what}: ${stderr.slice(-4000)}`);
    assert.equal(child.exitCode, null, `${what}: the webhooks exited: ${stderr.slice(-4000)}`);
    assert.equal(child.signalCode, null, `${what}: the webhooks were killed`);
    const review = {
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      request: {
        uid: "health",
        kind: { group: "", version: "v1", kind: "Pod" },
        namespace: "bookinfo",
        operation: "CREATE",
        object: { metadata: { name: "p" }, spec: { containers: [{ name: "app", image: "nginx" }] } },
      },
    };
    const answer = await send("/inject", JSON.stringify(review));
    assert.equal(answer.status, 200, `${what}: ${answer.text}`);
    const response = (JSON.parse(answer.text) as { response: Json }).response;
    assert.equal(response.allowed, true, `${what}: ${answer.text}`);
    assert.equal(response.patchType, "JSONPatch", `${what}: no sidecar: ${answer.text}`);
  }

  before(async () => {
    console.log(
      `      AdmissionReview: ${RUNS.bytes}, ${RUNS.json}, ${RUNS.shaped} and ${RUNS.mutated} runs, seed ${SEED}`,
    );
    process.on("unhandledRejection", onFatal);
    process.on("uncaughtException", onFatal);
    apiServer = fakeApiServer(watches);
    await new Promise<void>((resolve) => apiServer.listen(0, "127.0.0.1", resolve));
    await startChild();
    // Warm-up: each path and tier once, and the largest body, before the baseline.
    await send("/inject", Buffer.from([0xff, 0x00]));
    await send("/validate", "[]");
    await send("/validate", Buffer.alloc(MAX_BODY_BYTES + 1, 0x20));
    for (const review of fc.sample(validReview, { seed: SEED, numRuns: 30 }))
      wellFormed(await send(review.path, serialize(review.body)), review.body, review.path);
    await assertServing("warm-up");
    agent.destroy();
    agent = new Agent({ keepAlive: true, ca, maxSockets: 2 });
    await sleep(100);
    baseline = await memory();
    outcomes.clear();
  });

  after(async () => {
    process.off("unhandledRejection", onFatal);
    process.off("uncaughtException", onFatal);
    agent?.destroy();
    child?.disconnect();
    for (const watch of watches) watch.destroy();
    await new Promise((resolve) => apiServer?.close(resolve));
    if (outcomes.size > 0)
      console.log(`      outcomes: ${JSON.stringify(Object.fromEntries([...outcomes].sort()))}`);
  });

  const runs = (numRuns: number) => ({ seed: SEED, numRuns });

  /** A review as the API server would send it, of this kind and object. */
  const reviewOf = (kind: Kind, object: Json) => ({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: "3f0c5e6a-0000-4000-8000-000000000014",
      kind: { group: GVK[kind].group, version: GVK[kind].version, kind },
      namespace: "bookinfo",
      operation: "CREATE",
      object,
    },
  });
  const answered = async (path: string, review: Json): Promise<Json> => {
    const response = wellFormed(await send(path, JSON.stringify(review)), review, path);
    assert.ok(response);
    return response;
  };

  it("found by the search: a Pod without containers got a handler error from the injector; it gets nothing, for the API server to refuse", async () => {
    // Mutating admission comes before validation, so such a Pod reaches the injector.
    for (const spec of [{}, { containers: [] }]) {
      const response = await answered(
        "/inject",
        reviewOf("Pod", { apiVersion: "v1", kind: "Pod", metadata: { namespace: "bookinfo" }, spec }),
      );
      assert.deepEqual([response.allowed, response.patch], [true, undefined], JSON.stringify(response));
    }
  });

  it("found by the search: a kind the configurations do not send got a handler error; /inject and /validate allow it unchecked", async () => {
    const peerAuthentication = {
      apiVersion: "skiff.dev/v1alpha1",
      kind: "PeerAuthentication",
      metadata: { name: "0", namespace: "bookinfo" },
      spec: {},
    };
    for (const path of ["/validate", "/inject"])
      assert.equal((await answered(path, reviewOf("PeerAuthentication", peerAuthentication))).allowed, true);
    const trafficPolicy = {
      ...peerAuthentication,
      kind: "TrafficPolicy",
      spec: { targetRef: { name: "r" } },
    };
    assert.equal((await answered("/inject", reviewOf("TrafficPolicy", trafficPolicy))).allowed, true);
  });

  it("found reading the code the search reaches: the RE2 verdicts the webhook keeps held every pattern sent, whatever its length; none past the CRD's limit is kept", async () => {
    // The API server admits regexes of up to 1024 characters, and the cache
    // of 4096 verdicts was bounded for those; a request to the webhook itself
    // kept up to MAX_BODY_BYTES of pattern in each.
    const before = await memory();
    for (let i = 0; i < 8; i++) {
      const regex = `/api/${i}/`.padEnd(MiB, "x");
      const policy = {
        apiVersion: "skiff.dev/v1alpha1",
        kind: "TrafficPolicy",
        metadata: { name: "reviews", namespace: "bookinfo" },
        spec: { targetRef: { kind: "Service", name: "reviews" }, http: [{ match: [{ path: { regex } }] }] },
      };
      const response = await answered("/validate", reviewOf("TrafficPolicy", policy));
      assert.equal(response.allowed, false);
      assert.match(
        (response.status as { message: string }).message,
        /spec.http\[0\].match\[0\].path.regex: invalid RE2 regex: too large/,
      );
    }
    agent.destroy();
    agent = new Agent({ keepAlive: true, ca, maxSockets: 2 });
    const kept = (await memory()) - before;
    assert.ok(kept < 2 * MiB, `kept ${(kept / MiB).toFixed(1)} MiB after 8 patterns of 1 MiB`);
  });

  it("bytes: anything, and reviews cut short or with a byte changed", async () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 1024 }).map((b) => Buffer.from(b)),
      fc
        .tuple(validReview, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean())
        .map(([review, at, value, cut]) => {
          const b = Buffer.from(serialize(review.body));
          const i = at % b.length;
          if (cut) return b.subarray(0, i);
          b[i] = value;
          return b;
        }),
    );
    await fc.assert(
      fc.asyncProperty(PATHS, bytes, CONTENT_TYPES, async (path, body, contentType) => {
        await freshProcessIfFailed();
        const answer = await send(path, body, contentType);
        let sent: unknown;
        try {
          sent = JSON.parse(body.toString("utf8"));
        } catch {
          sent = undefined;
        }
        wellFormed(answer, sent, path);
        await assertServing("after the bytes");
      }),
      runs(RUNS.bytes),
    );
  });

  it("JSON: any value", async () => {
    const value = fc.oneof(fc.jsonValue(), fc.anything({ withNullPrototype: true, maxDepth: 4 }));
    await fc.assert(
      fc.asyncProperty(PATHS, value, async (path, v) => {
        await freshProcessIfFailed();
        const text = serialize(v);
        wellFormed(await send(path, text), text === "" ? undefined : JSON.parse(text), path);
        await assertServing("after the value");
      }),
      runs(RUNS.json),
    );
  });

  it("AdmissionReview-shaped: each request field right or anything, objects of every kind", async () => {
    /** Mostly right, sometimes any JSON. */
    const mostly = <T>(right: fc.Arbitrary<T>) =>
      fc.oneof({ weight: 5, arbitrary: right }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) });
    const kind = fc.constantFrom(...KINDS);
    const object = fc.oneof(
      { weight: 4, arbitrary: kind.chain((k) => objectOf[k]) },
      { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
      { weight: 1, arbitrary: fc.anything({ maxDepth: 4 }) },
    );
    const request = fc.record(
      {
        uid: mostly(fc.uuid()),
        kind: mostly(kind.map((k) => ({ group: GVK[k].group, version: GVK[k].version, kind: k as string }))),
        resource: mostly(
          kind.map((k) => ({ group: GVK[k].group, version: GVK[k].version, resource: GVK[k].resource })),
        ),
        name: mostly(label),
        namespace: mostly(fc.constantFrom("bookinfo", "default", "skiff-system", "nowhere", "..", "")),
        operation: mostly(fc.constantFrom("CREATE", "UPDATE", "DELETE", "CONNECT")),
        userInfo: mostly(fc.record({ username: fc.string() })),
        object,
        oldObject: object,
        dryRun: mostly(fc.boolean()),
      },
      { requiredKeys: ["uid", "kind", "operation"] },
    );
    const review = fc.record(
      {
        apiVersion: mostly(fc.constant("admission.k8s.io/v1")),
        kind: mostly(fc.constant("AdmissionReview")),
        request: mostly(request),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(PATHS, review, async (path, r) => {
        await freshProcessIfFailed();
        const text = serialize(r);
        wellFormed(await send(path, text), JSON.parse(text), path);
        await assertServing("after the review");
      }),
      runs(RUNS.shaped),
    );
  });

  it("valid reviews of every kind, as the API server sends them or mutated anywhere", async () => {
    const mutated = fc.record({
      review: validReview,
      mutations: fc.oneof(
        { weight: 1, arbitrary: fc.constant([] as JsonMutation[]) },
        { weight: 2, arbitrary: fc.array(jsonMutation, { minLength: 1, maxLength: 3 }) },
      ),
    });
    await fc.assert(
      fc.asyncProperty(mutated, async ({ review, mutations }) => {
        await freshProcessIfFailed();
        const variants = Math.max(
          1,
          ...mutations.map((m) => (m.action.op === "long" ? m.action.variants : 1)),
        );
        let body: unknown;
        let answer: Answer | undefined;
        let response: Json | undefined;
        for (let variant = 0; variant < variants; variant++) {
          body = structuredClone(review.body);
          for (const m of mutations) body = applyMutation(body, m, variant);
          const text = serialize(body);
          if (/"regex":"[^"]{1025}/.test(text)) count("coverage: a regex past the CRD's 1024 characters");
          answer = await send(review.path, text);
          response = wellFormed(answer, body, review.path);
        }
        assert.ok(answer);
        if (mutations.length === 0 && sentByApiServer(review)) {
          count(`as the API server sends it: ${review.kind}`);
          // What the API server sends: answered, and no handler fails on it.
          assert.ok(response, `${answer.status}: ${answer.text.slice(0, 500)}`);
          assert.ok(
            response.allowed || (response.status as { code: number }).code < 500,
            `a handler failed: ${JSON.stringify(response.status)}`,
          );
          if (response.patch) {
            // The injector's patch applies to the Pod.
            const patch = JSON.parse(Buffer.from(response.patch as string, "base64").toString()) as never;
            const request = review.body.request as { object: unknown };
            fastJsonPatch.applyPatch(structuredClone(request.object), patch, true);
          }
        }
        await assertServing("after the review");
      }),
      runs(RUNS.mutated),
    );
  });

  it(`holds under ${RETAINED_BOUND / MiB} MiB more once every connection is closed`, async () => {
    agent.destroy();
    await sleep(200);
    const grown = (await memory()) - baseline;
    console.log(
      `      retained ${(grown / MiB).toFixed(2)} MiB over the warm-up's ${(baseline / MiB).toFixed(1)} MiB`,
    );
    assert.ok(grown < RETAINED_BOUND, `the webhooks kept ${(grown / MiB).toFixed(2)} MiB`);
    assert.deepEqual(fatal, []);
    agent = new Agent({ keepAlive: true, ca, maxSockets: 2 });
    await assertServing("at the end");
  });
});
