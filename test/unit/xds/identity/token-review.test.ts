import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { KubeConfig } from "@kubernetes/client-node";
import { Metadata, status } from "@grpc/grpc-js";
import { RestClient } from "../../../../src/k8s/rest.js";
import { bearerToken, reviewToken } from "../../../../src/xds/identity/token-review.js";
import type { AuthenticationError } from "../../../../src/xds/server/authentication-error.js";

/** An API server stand-in whose TokenReview answer each test sets: a status code and a body, or a dropped connection. */
let answer: { code: number; body: unknown } | "drop";

function restFor(port: number): RestClient {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: "c", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: "u" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  return new RestClient(kubeConfig, 5_000);
}

async function outcome(rest: RestClient): Promise<string> {
  try {
    const identity = await reviewToken(rest, "a-token");
    return `${identity.namespace}/${identity.serviceAccount}`;
  } catch (err) {
    return `${status[(err as AuthenticationError).code]}: ${(err as Error).message}`;
  }
}

const review = (status: object) => ({ code: 201, body: { kind: "TokenReview", status } });

describe("reviewToken: who decides, the token or the API server", () => {
  let server: Server;
  let rest: RestClient;
  before(async () => {
    server = createServer((req, res) => {
      if (answer === "drop") return req.socket.destroy();
      res.writeHead(answer.code, { "Content-Type": "application/json" }).end(JSON.stringify(answer.body));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    rest = restFor((server.address() as { port: number }).port);
  });
  after(() => new Promise((resolve) => server.close(resolve)));

  it("accepts a ServiceAccount's token for the skiff audience", async () => {
    answer = review({
      authenticated: true,
      audiences: ["skiff"],
      user: { username: "system:serviceaccount:shop:reviews" },
    });
    assert.equal(await outcome(rest), "shop/reviews");
  });

  it("reads the Pod a token is bound to from the API server's answer, never from the token", async () => {
    answer = review({
      authenticated: true,
      audiences: ["skiff"],
      user: {
        username: "system:serviceaccount:shop:reviews",
        extra: { "authentication.kubernetes.io/pod-name": ["reviews-v1-abc"] },
      },
    });
    assert.deepEqual(await reviewToken(rest, "a-token"), {
      namespace: "shop",
      serviceAccount: "reviews",
      pod: "reviews-v1-abc",
    });
  });

  it("refuses, with UNAUTHENTICATED, a token the API server does not accept, for another audience, or not a ServiceAccount's", async () => {
    answer = review({ authenticated: false, error: "service account shop/reviews has been deleted" });
    assert.match(await outcome(rest), /^UNAUTHENTICATED: .*has been deleted/);
    answer = review({
      authenticated: true,
      audiences: ["kubernetes"],
      user: { username: "system:serviceaccount:a:b" },
    });
    assert.match(await outcome(rest), /^UNAUTHENTICATED: .*audience/);
    answer = review({ authenticated: true, audiences: ["skiff"], user: { username: "alice" } });
    assert.match(await outcome(rest), /^UNAUTHENTICATED: .*alice/);
  });

  it("answers UNAVAILABLE, not UNAUTHENTICATED, when the API server fails: 5xx, 429, its own 403, or no answer", async () => {
    for (const [code, reason] of [
      [503, "ServiceUnavailable"],
      [500, "InternalError"],
      [429, "TooManyRequests"],
      [403, "Forbidden"],
    ] as const) {
      answer = { code, body: { kind: "Status", reason, message: "try later" } };
      assert.match(await outcome(rest), new RegExp(`^UNAVAILABLE: .*${code}`), String(code));
    }
    answer = "drop";
    assert.match(await outcome(rest), /^UNAVAILABLE: /);
    const unreachable = restFor(1); // nothing listens on port 1
    assert.match(await outcome(unreachable), /^UNAVAILABLE: /);
  });
});

describe("bearerToken", () => {
  const metadata = (authorization?: string) => {
    const m = new Metadata();
    if (authorization !== undefined) m.set("authorization", authorization);
    return m;
  };

  it("reads `Bearer <token>`, none at all, and refuses anything else with UNAUTHENTICATED", () => {
    assert.equal(bearerToken(metadata("Bearer abc.def")), "abc.def");
    assert.equal(bearerToken(metadata()), undefined);
    assert.throws(
      () => bearerToken(metadata("Basic dXNlcg==")),
      (err: AuthenticationError) => err.code === status.UNAUTHENTICATED,
    );
  });
});
