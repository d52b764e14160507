import assert from "node:assert/strict";
import { backoffDelayMs, DEFAULT_BACKOFF, TokenBucket } from "../../../src/k8s/backoff.js";

describe("retry backoff", () => {
  const noJitter = 0.5; // the middle of [0, 1) leaves the delay as computed

  it("doubles from 5 ms", () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((n) => backoffDelayMs(n, DEFAULT_BACKOFF, noJitter)),
      [5, 10, 20, 40, 80],
    );
  });

  it("stops at 1000 s, even after very many failures", () => {
    assert.equal(backoffDelayMs(18, DEFAULT_BACKOFF, noJitter), 655_360);
    assert.equal(backoffDelayMs(19, DEFAULT_BACKOFF, noJitter), 1_000_000);
    assert.equal(backoffDelayMs(10_000, DEFAULT_BACKOFF, 0.999), 1_000_000);
  });

  it("jitters by at most 10% either way", () => {
    assert.equal(backoffDelayMs(3, DEFAULT_BACKOFF, 0), 18);
    assert.ok(Math.abs(backoffDelayMs(3, DEFAULT_BACKOFF, 0.9999) - 22) < 0.01);
  });
});

describe("token bucket", () => {
  it("lets a burst through, then spaces retries at the rate", () => {
    const bucket = new TokenBucket(10, 3, 0);
    assert.deepEqual([bucket.reserve(0), bucket.reserve(0), bucket.reserve(0)], [0, 0, 0]);
    assert.equal(bucket.reserve(0), 100);
    assert.equal(bucket.reserve(0), 200);
  });

  it("refills over time up to the burst size", () => {
    const bucket = new TokenBucket(10, 2, 0);
    bucket.reserve(0);
    bucket.reserve(0);
    assert.equal(bucket.reserve(10_000), 0, "refilled after 10 s");
    assert.equal(bucket.reserve(10_000), 0);
    assert.equal(bucket.reserve(10_000), 100, "but never beyond the burst");
  });
});
