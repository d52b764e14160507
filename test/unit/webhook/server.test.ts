import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { Agent, request as httpsRequest } from "node:https";
import { connect } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import fc from "fast-check";
import { MAX_BODY_BYTES } from "../../../src/webhook/server.js";

interface Answer {
  status: number;
  body: unknown;
}

/** An admission.k8s.io/v1 AdmissionReview request, as the API server sends it. */
const review = (request: Record<string, unknown>) => ({
  apiVersion: "admission.k8s.io/v1",
  kind: "AdmissionReview",
  request: {
    uid: "3f0c5e6a-0000-4000-8000-000000000001",
    kind: { group: "skiff.dev", version: "v1alpha1", kind: "TrafficPolicy" },
    operation: "CREATE",
    ...request,
  },
});
const policy = (name: unknown) => ({
  apiVersion: "skiff.dev/v1alpha1",
  kind: "TrafficPolicy",
  metadata: name === undefined ? {} : { name },
  spec: { targetRef: { kind: "Service", name: "reviews" } },
});

/**
 * The webhook server over real HTTPS, in a process of its own, so that a
 * request that would end the process (as an unhandled rejection does)
 * shows as a dead process. Its /validate handler talks to a fake API
 * server here, which records every path it is asked for.
 */
describe("the admission webhook server, attacked with raw HTTPS requests", function () {
  this.timeout(60_000);
  let child: ChildProcess;
  let stderr = "";
  let port: number;
  let agent: Agent;
  let apiServer: HttpServer;
  const apiPaths: string[] = [];

  before(async () => {
    apiServer = createHttpServer((req, res) => {
      apiPaths.push(req.url ?? "");
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ items: [] }));
    });
    await new Promise<void>((resolve) => apiServer.listen(0, "127.0.0.1", resolve));
    const apiPort = (apiServer.address() as { port: number }).port;
    child = spawn(
      process.execPath,
      ["--import", "tsx", join(import.meta.dirname, "admission-server.child.ts")],
      {
        env: { ...process.env, SKIFF_TEST_API_SERVER: `http://127.0.0.1:${apiPort}` },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once("line", resolve);
      child.once("exit", (code) => reject(new Error(`the server exited (${code}): ${stderr}`)));
    });
    const started = JSON.parse(line) as { port: number; ca: string };
    port = started.port;
    agent = new Agent({ keepAlive: true, ca: started.ca, maxSockets: 4 });
  });

  after(async () => {
    agent?.destroy();
    child?.kill();
    await new Promise((resolve) => apiServer?.close(resolve));
  });

  beforeEach(() => (apiPaths.length = 0));

  /** The process is alive and still answers. */
  afterEach(async function () {
    if (this.currentTest?.state === "failed" && stderr) console.error(stderr);
    assert.equal(child.exitCode, null, `the server process exited: ${stderr}`);
    assert.equal(child.signalCode, null, `the server process was killed: ${stderr}`);
    const health = await send("GET", "/healthz", undefined, {});
    assert.equal(health.status, 200);
  });

  function send(
    method: string,
    path: string,
    body: string | Buffer | undefined,
    headers: Record<string, string | number> = { "Content-Type": "application/json" },
  ): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest({ host: "127.0.0.1", port, method, path, agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // not JSON: kept as text
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body);
    });
  }
  const post = (path: string, body: unknown) =>
    send("POST", path, typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body));

  /** 200 with an AdmissionReview response for `uid`; or 4xx with a JSON error. */
  function wellFormed(answer: Answer, uid?: unknown): void {
    if (answer.status === 200) {
      const r = answer.body as {
        apiVersion: string;
        kind: string;
        response: { uid: unknown; allowed: unknown };
      };
      assert.equal(r.apiVersion, "admission.k8s.io/v1");
      assert.equal(r.kind, "AdmissionReview");
      assert.equal(typeof r.response.allowed, "boolean");
      if (uid !== undefined) assert.equal(r.response.uid, uid);
    } else {
      assert.ok(answer.status >= 400 && answer.status < 500, `status ${answer.status}`);
      assert.equal(typeof (answer.body as { error?: unknown }).error, "string", JSON.stringify(answer.body));
    }
  }
  const refused = (answer: Answer, status: number, error: RegExp) => {
    assert.equal(answer.status, status, JSON.stringify(answer.body));
    assert.match((answer.body as { error: string }).error, error);
  };

  it("answers a review with no request.kind whose object makes the handler throw with 400, and lives", async () => {
    // The finding: the handler threw, and the error path read request.kind.kind and ended the process.
    const { request } = review({ namespace: "default", object: { metadata: null } }) as {
      request: Record<string, unknown>;
    };
    delete request.kind;
    refused(await post("/validate", { ...review({}), request }), 400, /request.kind/);
    refused(
      await post("/echo", { ...review({}), request: { ...request, object: { throw: "error" } } }),
      400,
      /kind/,
    );
  });

  it("answers a handler that throws, whatever it throws, with a denial that carries the error", async () => {
    for (const thrown of ["error", null, "undefined", "a string", 42, { an: "object" }]) {
      const answer = await post("/echo", review({ object: { throw: thrown } }));
      wellFormed(answer, "3f0c5e6a-0000-4000-8000-000000000001");
      const { response } = answer.body as {
        response: { allowed: boolean; status: { code: number; message: string } };
      };
      assert.equal(response.allowed, false);
      assert.equal(response.status.code, 500);
      assert.match(response.status.message, /^skiff webhook error: /);
    }
    // The real /validate handler, given an object it cannot read.
    const answer = await post("/validate", review({ namespace: "default", object: { metadata: null } }));
    wellFormed(answer);
    assert.equal((answer.body as { response: { allowed: boolean } }).response.allowed, false);
  });

  it("answers a well-formed review with its uid", async () => {
    const answer = await post("/echo", review({ object: {} }));
    wellFormed(answer, "3f0c5e6a-0000-4000-8000-000000000001");
    assert.deepEqual((answer.body as { response: { warnings: string[] } }).response.warnings, [
      "kind TrafficPolicy",
    ]);
    const charset = await send("POST", "/echo", JSON.stringify(review({})), {
      "Content-Type": "application/json; charset=utf-8",
    });
    assert.equal(charset.status, 200);
  });

  it("answers 400 to what is not an AdmissionReview request", async () => {
    const cases: [string, string | Buffer | undefined, RegExp][] = [
      ["no body", undefined, /JSON/],
      ["not JSON", "{nope", /JSON/],
      ["binary", Buffer.from([0xff, 0x00, 0xfe, 0x7b]), /JSON/],
      ["an array", "[]", /not a JSON object/],
      ["a string", '"AdmissionReview"', /not a JSON object/],
      ["a number", "42", /not a JSON object/],
      ["null", "null", /not a JSON object/],
      ["another kind", JSON.stringify({ ...review({}), kind: "Pod" }), /AdmissionReview/],
      [
        "v1beta1",
        JSON.stringify({ ...review({}), apiVersion: "admission.k8s.io/v1beta1" }),
        /admission.k8s.io\/v1/,
      ],
      [
        "no request",
        JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview" }),
        /no request/,
      ],
      ["a string request", JSON.stringify({ ...review({}), request: "x" }), /no request/],
      ["an array request", JSON.stringify({ ...review({}), request: [] }), /no request/],
      ["no uid", JSON.stringify(review({ uid: undefined })), /uid/],
      ["an empty uid", JSON.stringify(review({ uid: "" })), /uid/],
      ["a numeric uid", JSON.stringify(review({ uid: 7 })), /uid/],
      ["no kind", JSON.stringify(review({ kind: undefined })), /request.kind/],
      ["a string kind", JSON.stringify(review({ kind: "Pod" })), /request.kind/],
      ["a kind without kind", JSON.stringify(review({ kind: { group: "", version: "v1" } })), /request.kind/],
      ["a numeric namespace", JSON.stringify(review({ namespace: 5 })), /namespace/],
      ["no operation", JSON.stringify(review({ operation: undefined })), /operation/],
    ];
    for (const [what, body, error] of cases) {
      for (const path of ["/validate", "/echo"]) {
        const answer = await send("POST", path, body);
        assert.equal(answer.status, 400, `${what} on ${path}: ${JSON.stringify(answer.body)}`);
        assert.match((answer.body as { error: string }).error, error, what);
      }
    }
    assert.deepEqual(apiPaths, [], "nothing was asked of the API server");
  });

  it(`answers 413 to a body over ${MAX_BODY_BYTES} bytes, declared or streamed, and goes on serving`, async () => {
    const huge = Buffer.alloc(MAX_BODY_BYTES + 1, 0x20);
    refused(await post("/validate", huge), 413, /over/);
    // Streamed without a length: read and dropped, never kept.
    const streamed = await new Promise<Answer>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: "127.0.0.1",
          port,
          method: "POST",
          path: "/echo",
          agent,
          headers: { "Content-Type": "application/json", "Transfer-Encoding": "chunked" },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) }),
          );
        },
      );
      req.on("error", reject);
      const piece = Buffer.alloc(1024 * 1024, 0x20);
      for (let i = 0; i <= MAX_BODY_BYTES / piece.length; i++) req.write(piece);
      req.end();
    });
    refused(streamed, 413, /over/);
    // Just under the limit is read (and is not JSON).
    refused(await post("/echo", Buffer.alloc(MAX_BODY_BYTES, 0x20)), 400, /JSON/);
    wellFormed(await post("/echo", review({})));
  });

  it("answers 415 to a body that is not declared application/json", async () => {
    const body = JSON.stringify(review({}));
    refused(await send("POST", "/validate", body, { "Content-Type": "text/plain" }), 415, /text\/plain/);
    refused(
      await send("POST", "/validate", body, { "Content-Type": "application/jsonx" }),
      415,
      /Content-Type/,
    );
    refused(await send("POST", "/validate", body, {}), 415, /absent/);
  });

  it("answers 404 to other paths and methods, including Object.prototype's names", async () => {
    const body = JSON.stringify(review({}));
    for (const path of [
      "/",
      "/nope",
      "/constructor",
      "/__proto__",
      "/toString",
      "/hasOwnProperty",
      "/validate/x",
    ])
      assert.equal((await send("POST", path, body)).status, 404, path);
    assert.equal((await send("GET", "/validate", undefined)).status, 404);
    assert.equal((await send("PUT", "/echo", body)).status, 404);
  });

  it("lives through clients that leave mid-body or mid-answer, and through bytes that are not TLS", async () => {
    // A declared body that never comes.
    await new Promise<void>((resolve) => {
      const req = httpsRequest({
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/echo",
        headers: { "Content-Type": "application/json", "Content-Length": 1000 },
        ca: (agent.options as { ca: string }).ca,
      });
      req.on("error", () => resolve());
      req.write("{");
      setTimeout(() => req.destroy(), 100);
    });
    // A handler still working when the client leaves.
    await new Promise<void>((resolve) => {
      const req = httpsRequest({
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/echo",
        headers: { "Content-Type": "application/json" },
        ca: (agent.options as { ca: string }).ca,
      });
      req.on("error", () => resolve());
      req.end(JSON.stringify(review({ object: { wait: 300, throw: null } })));
      setTimeout(() => req.destroy(), 100);
    });
    await new Promise((resolve) => setTimeout(resolve, 400));
    // Plain text on the TLS port.
    await new Promise<void>((resolve) => {
      const socket = connect(port, "127.0.0.1", () => socket.end("POST /validate HTTP/1.1\r\n\r\n\x00\xff"));
      socket.on("error", () => resolve());
      socket.on("close", () => resolve());
      socket.resume();
    });
  });

  it("/validate refuses a namespace or name that is not a DNS-1123 name, and asks the API server nothing", async () => {
    // Concatenated into API paths, "../" made the operator GET other paths with its own identity.
    const label = /is not valid: a lowercase RFC 1123 label/;
    const subdomain = /is not valid: a lowercase RFC 1123 subdomain/;
    const cases: [string, unknown, unknown, RegExp][] = [
      ["../../api/v1/secrets", "ns", "reviews", label],
      ["../../../api/v1/secrets?", "ns", "reviews", label],
      ["../../../api/v1/namespaces/kube-system/secrets#", "ns", "reviews", label],
      ["..", "ns", "reviews", label],
      [".", "ns", "reviews", label],
      ["%2e%2e", "ns", "reviews", label],
      ["kube-system/secrets", "ns", "reviews", label],
      ["default?watch=true", "ns", "reviews", label],
      ["Default", "ns", "reviews", label],
      ["a".repeat(64), "ns", "reviews", /no more than 63 characters/],
      ["-a", "ns", "reviews", label],
      ["default\n", "ns", "reviews", label],
      ["default", "name", "../../secrets", subdomain],
      ["default", "name", "a/b", subdomain],
      ["default", "name", "Reviews", subdomain],
      ["default", "name", "x".repeat(254), /no more than 253 characters/],
      ["default", "name", 42, /must be a string/],
      ["default", "name", undefined, /must be a string/],
    ];
    for (const [namespace, field, name, message] of cases) {
      const answer = await post("/validate", review({ namespace, object: policy(name) }));
      wellFormed(answer, "3f0c5e6a-0000-4000-8000-000000000001");
      const { response } = answer.body as {
        response: { allowed: boolean; status: { code: number; message: string } };
      };
      const what = `${field} ${JSON.stringify(field === "ns" ? namespace : name)}`;
      assert.deepEqual(apiPaths, [], `${what}: the API server was asked for ${apiPaths.join(", ")}`);
      assert.equal(response.allowed, false, what);
      assert.equal(response.status.code, 400, what);
      assert.match(
        response.status.message,
        field === "ns"
          ? /^request\.namespace ".*" is not valid/
          : /^request\.object\.metadata\.name .* is not valid/,
        what,
      );
      assert.match(response.status.message, message, what);
    }
    // A valid one is looked up in its namespace, and only there.
    const answer = await post("/validate", review({ namespace: "bookinfo", object: policy("reviews.v2") }));
    assert.equal((answer.body as { response: { allowed: boolean } }).response.allowed, true);
    assert.deepEqual(apiPaths.sort(), [
      "/api/v1/namespaces/bookinfo/pods",
      "/api/v1/namespaces/bookinfo/services",
      "/apis/discovery.k8s.io/v1/namespaces/bookinfo/endpointslices",
      "/apis/skiff.dev/v1alpha1/namespaces/bookinfo/trafficpolicies",
    ]);
  });

  describe("invariant: any body gets an AdmissionReview or a 4xx, and the process lives (fast-check, seeded)", () => {
    const runs = { seed: 1414, numRuns: 300 };
    const paths = fc.constantFrom("/validate", "/echo");
    /** Every request to the API server stays in the namespace of the review. */
    const confined = () => {
      for (const path of apiPaths)
        assert.match(
          path,
          /^\/(api\/v1|apis\/skiff\.dev\/v1alpha1|apis\/discovery\.k8s\.io\/v1)\/namespaces\/[a-z0-9-]+\/(trafficpolicies|services|endpointslices|pods)$/,
        );
    };

    it("random bytes", async () => {
      await fc.assert(
        fc.asyncProperty(paths, fc.uint8Array({ maxLength: 512 }), async (path, bytes) => {
          wellFormed(await post(path, Buffer.from(bytes)));
        }),
        runs,
      );
    });

    it("random JSON values", async () => {
      await fc.assert(
        fc.asyncProperty(paths, fc.jsonValue(), async (path, value) => {
          wellFormed(await post(path, JSON.stringify(value) ?? ""));
        }),
        runs,
      );
    });

    it("reviews with random fields, some of them right", async () => {
      /** Mostly right, sometimes any JSON at all. */
      const mostly = <T>(arb: fc.Arbitrary<T>) =>
        fc.oneof({ arbitrary: arb, weight: 12 }, { arbitrary: fc.jsonValue(), weight: 1 });
      const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?$/);
      const request = fc.record(
        {
          uid: mostly(fc.uuid()),
          kind: mostly(
            fc.record({
              group: fc.constantFrom("", "skiff.dev"),
              version: fc.constantFrom("v1", "v1alpha1"),
              kind: fc.string(),
            }),
          ),
          operation: mostly(fc.constantFrom("CREATE", "UPDATE", "DELETE")),
          namespace: fc.oneof(
            { arbitrary: label, weight: 6 },
            {
              arbitrary: fc.constantFrom(
                "../..",
                "../../../api/v1/secrets?",
                "a/b",
                "..",
                "%2e%2e",
                "Default",
                "",
              ),
              weight: 2,
            },
            { arbitrary: fc.string(), weight: 1 },
            { arbitrary: fc.jsonValue(), weight: 1 },
          ),
          object: fc.oneof(
            { arbitrary: fc.jsonValue(), weight: 1 },
            {
              arbitrary: fc.record({
                metadata: mostly(
                  fc.record({
                    name: fc.oneof({ arbitrary: label, weight: 4 }, { arbitrary: fc.string(), weight: 1 }),
                  }),
                ),
                spec: fc.oneof(
                  fc.jsonValue(),
                  fc.record({ targetRef: fc.record({ kind: fc.constant("Service"), name: label }) }),
                ),
              }),
              weight: 4,
            },
            { arbitrary: fc.record({ throw: fc.jsonValue(), wait: fc.constant(0) }), weight: 1 },
          ),
        },
        { requiredKeys: ["uid", "kind", "operation"] },
      );
      const fields = {
        apiVersion: mostly(fc.constant("admission.k8s.io/v1")),
        kind: mostly(fc.constant("AdmissionReview")),
        request: mostly(request),
      };
      const body = fc.oneof(
        { arbitrary: fc.record(fields), weight: 5 },
        { arbitrary: fc.record(fields, { requiredKeys: [] }), weight: 1 },
      );
      const statuses = new Map<number, number>();
      let asked = 0;
      await fc.assert(
        fc.asyncProperty(paths, body, async (path, value) => {
          const uid = (value.request as { uid?: unknown } | undefined)?.uid;
          const answer = await post(path, value);
          statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
          wellFormed(answer, typeof uid === "string" ? uid : undefined);
          confined();
          asked += apiPaths.length;
          apiPaths.length = 0;
        }),
        runs,
      );
      // The search reached the handlers and the API server, not only the parser.
      assert.ok(
        (statuses.get(200) ?? 0) > 10 && (statuses.get(400) ?? 0) > 10 && asked > 0,
        JSON.stringify([...statuses]),
      );
    });
  });
});
