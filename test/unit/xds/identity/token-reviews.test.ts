import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import type { WorkloadIdentity } from "../../../../src/xds/cache/snapshot.js";
import { IDENTITY_LIMITS } from "../../../../src/xds/identity/limits.js";
import { TokenReviews } from "../../../../src/xds/identity/token-reviews.js";
import { AuthenticationError } from "../../../../src/xds/server/authentication-error.js";

const REVIEWS: WorkloadIdentity = { namespace: "shop", serviceAccount: "reviews" };

/** A JWT-shaped token whose payload says when it expires (seconds since the epoch). */
const jwt = (name: string, expSeconds?: number) =>
  [
    Buffer.from('{"alg":"RS256"}').toString("base64url"),
    Buffer.from(JSON.stringify({ sub: name, ...(expSeconds ? { exp: expSeconds } : {}) })).toString(
      "base64url",
    ),
    "signature",
  ].join(".");

/** A stand-in for the API server: accepts tokens that start with "good", and counts the reviews. */
function fakeApiServer() {
  const server = {
    reviews: [] as string[],
    failing: false,
    review: async (token: string): Promise<WorkloadIdentity> => {
      server.reviews.push(token);
      await Promise.resolve();
      if (server.failing) throw new AuthenticationError(status.UNAVAILABLE, "the API server is down");
      if (!token.startsWith("good")) throw new AuthenticationError(status.UNAUTHENTICATED, "not accepted");
      return REVIEWS;
    },
  };
  return server;
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "OK";
  } catch (err) {
    return status[(err as AuthenticationError).code];
  }
}

describe("TokenReviews", () => {
  let now: number;
  let api: ReturnType<typeof fakeApiServer>;
  let reviews: TokenReviews;
  beforeEach(() => {
    now = 1_000_000;
    api = fakeApiServer();
    reviews = new TokenReviews(api.review, { now: () => now });
  });

  it("asks the API server once per token within the cache time, then again", async () => {
    assert.deepEqual(await reviews.identify("good-1"), REVIEWS);
    now += IDENTITY_LIMITS.reviewCacheMs - 1;
    assert.deepEqual(await reviews.identify("good-1"), REVIEWS);
    assert.equal(api.reviews.length, 1);
    now += 1;
    await reviews.identify("good-1");
    assert.equal(api.reviews.length, 2);
  });

  it("shares one review among the streams that present the same token at once", async () => {
    await Promise.all([reviews.identify("good-1"), reviews.identify("good-1"), reviews.identify("good-1")]);
    assert.equal(api.reviews.length, 1);
  });

  it("remembers a rejected token as briefly, and never a failure of the API server", async () => {
    assert.equal(await codeOf(reviews.identify("bad-1")), "UNAUTHENTICATED");
    assert.equal(await codeOf(reviews.identify("bad-1")), "UNAUTHENTICATED");
    assert.equal(api.reviews.length, 1);
    api.failing = true;
    assert.equal(await codeOf(reviews.identify("good-2")), "UNAVAILABLE");
    api.failing = false;
    assert.equal(await codeOf(reviews.identify("good-2")), "OK");
    assert.equal(api.reviews.length, 3);
  });

  it("never trusts a cached answer past the token's own expiry", async () => {
    const token = `good.${jwt("a", now / 1000 + 5)
      .split(".")
      .slice(1)
      .join(".")}`;
    await reviews.identify(token);
    now += 5000;
    await reviews.identify(token);
    assert.equal(api.reviews.length, 2);
  });

  it("asks the API server afresh on a recheck, whatever the cache holds", async () => {
    await reviews.identify("good-1");
    await reviews.recheck("good-1");
    assert.equal(api.reviews.length, 2);
  });

  it("keeps at most reviewCacheEntries answers, forgetting the oldest", async () => {
    reviews = new TokenReviews(api.review, { now: () => now, limits: { reviewCacheEntries: 3 } });
    for (const token of ["good-1", "good-2", "good-3", "good-4"]) await reviews.identify(token);
    assert.equal(reviews.cachedAnswers, 3);
    await reviews.identify("good-2"); // still cached
    await reviews.identify("good-1"); // forgotten
    assert.deepEqual(api.reviews.slice(4), ["good-1"]);
  });

  describe("a peer that presents rejected tokens", () => {
    const burst = IDENTITY_LIMITS.rejectedTokensBurst;

    it(`is refused with RESOURCE_EXHAUSTED after ${burst}, without asking the API server, until it slows down`, async () => {
      for (let i = 0; i < burst; i++)
        assert.equal(await codeOf(reviews.identify(`bad-${i}`, "10.0.0.9:4000")), "UNAUTHENTICATED");
      const limited = reviews.identify("bad-next", "10.0.0.9:4001");
      assert.equal(await codeOf(limited), "RESOURCE_EXHAUSTED");
      await limited.catch((err: Error) =>
        assert.match(err.message, /too many rejected tokens from 10\.0\.0\.9/),
      );
      assert.equal(api.reviews.length, burst);
      // Another peer is not affected; a valid token checked before still passes.
      assert.equal(await codeOf(reviews.identify("bad-x", "10.0.0.7:4000")), "UNAUTHENTICATED");
      now += IDENTITY_LIMITS.rejectedTokenRefillMs;
      assert.equal(await codeOf(reviews.identify("bad-later", "10.0.0.9:4002")), "UNAUTHENTICATED");
      assert.equal(await codeOf(reviews.identify("bad-later-2", "10.0.0.9:4002")), "RESOURCE_EXHAUSTED");
    });

    it("still gets an answer the cache holds for a valid token", async () => {
      await reviews.identify("good-1", "10.0.0.9:1");
      for (let i = 0; i <= burst; i++) await reviews.identify(`bad-${i}`, "10.0.0.9:1").catch(() => {});
      assert.deepEqual(await reviews.identify("good-1", "10.0.0.9:1"), REVIEWS);
      assert.equal(await codeOf(reviews.identify("good-2", "10.0.0.9:1")), "RESOURCE_EXHAUSTED");
    });

    it("is not counted against when the API server fails, nor on a recheck", async () => {
      api.failing = true;
      for (let i = 0; i <= burst; i++)
        assert.equal(await codeOf(reviews.identify(`good-${i}`, "10.0.0.9:1")), "UNAVAILABLE");
      api.failing = false;
      for (let i = 0; i <= burst; i++) await reviews.recheck(`bad-${i}`).catch(() => {});
      assert.equal(await codeOf(reviews.identify("bad-z", "10.0.0.9:1")), "UNAUTHENTICATED");
    });
  });

  describe("before a certificate is signed (identifyNow)", () => {
    it("reviews every time a token was accepted, but reuses a recent refusal and counts it against the peer", async () => {
      await reviews.identify("good-1", "10.0.0.9:1");
      assert.deepEqual(await reviews.identifyNow("good-1", "10.0.0.9:1"), REVIEWS);
      assert.deepEqual(await reviews.identifyNow("good-1", "10.0.0.9:1"), REVIEWS);
      assert.deepEqual(api.reviews, ["good-1", "good-1", "good-1"]);
      assert.equal(await codeOf(reviews.identifyNow("bad-1", "10.0.0.9:1")), "UNAUTHENTICATED");
      assert.equal(await codeOf(reviews.identifyNow("bad-1", "10.0.0.9:1")), "UNAUTHENTICATED");
      assert.equal(api.reviews.length, 4, "the refusal is remembered");
      for (let i = 2; i < IDENTITY_LIMITS.rejectedTokensBurst; i++)
        await reviews.identifyNow(`bad-${i}`, "10.0.0.9:1").catch(() => {});
      assert.equal(await codeOf(reviews.identifyNow("good-2", "10.0.0.9:1")), "RESOURCE_EXHAUSTED");
    });
  });
});
