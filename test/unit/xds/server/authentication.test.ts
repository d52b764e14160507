import assert from "node:assert/strict";
import { status, type Metadata } from "@grpc/grpc-js";
import type { WorkloadIdentity } from "../../../../src/xds/cache/snapshot.js";
import { AuthenticationError } from "../../../../src/xds/server/authentication-error.js";
import { typeUrl } from "../../../../src/xds/protos/registry.js";
import { CLUSTER, fixtures as f } from "../../../support/fake-snapshot-source.js";
import { Harness, eventually } from "./harness.js";

const CDS = typeUrl(CLUSTER);
const tokenOf = (metadata: Metadata) => String(metadata.get("authorization")[0] ?? "").replace("Bearer ", "");
/** Tokens name their identity: "shop.reviews.1" is shop/reviews. */
const identityOf = (token: string): WorkloadIdentity => {
  const [namespace, serviceAccount] = token.split(".");
  return { namespace: namespace!, serviceAccount: serviceAccount! };
};

describe("ADS server, authentication outcomes", () => {
  let h: Harness;
  afterEach(() => h.stop());

  for (const [thrown, expected] of [
    [new AuthenticationError(status.UNAUTHENTICATED, "the token was not accepted"), "UNAUTHENTICATED"],
    [new AuthenticationError(status.UNAVAILABLE, "the API server did not answer"), "UNAVAILABLE"],
    [new AuthenticationError(status.RESOURCE_EXHAUSTED, "too many rejected tokens"), "RESOURCE_EXHAUSTED"],
    [new Error("the mesh CA is not available yet"), "UNAVAILABLE"],
  ] as const) {
    it(`ends the stream with ${expected} when the check fails with ${thrown.message}`, async () => {
      h = await new Harness().start({ authenticate: () => Promise.reject(thrown) });
      const proxy = h.sotw(undefined, "any");
      proxy.request({ typeUrl: CDS });
      const ended = await proxy.status;
      assert.equal(status[ended.code], expected);
      assert.match(ended.details, new RegExp(thrown.message));
    });
  }
});

describe("ADS server, checking identities again", () => {
  let h: Harness;
  /** Tokens the API server no longer accepts; "down" makes every check fail server-side. */
  let refused: Set<string>;
  let down: boolean;
  const check = async (metadata: Metadata): Promise<WorkloadIdentity> => {
    const token = tokenOf(metadata);
    if (down) throw new AuthenticationError(status.UNAVAILABLE, "the API server is down");
    if (refused.has(token))
      throw new AuthenticationError(status.UNAUTHENTICATED, "the token was not accepted");
    return identityOf(token);
  };
  const reviews = identityOf("shop.reviews");

  beforeEach(async () => {
    refused = new Set();
    down = false;
    h = await new Harness().start({ authenticate: (_node, metadata) => check(metadata) });
    h.source.set(f.cluster(h.source, "c1"));
  });
  afterEach(() => h.stop());

  async function connected(id: string, token: string) {
    const proxy = h.sotw({ id }, token);
    proxy.request({ typeUrl: CDS });
    await proxy.next();
    return proxy;
  }

  it("ends, with UNAUTHENTICATED, only the streams of the identity whose token is now refused", async () => {
    const one = await connected("one", "shop.reviews.1");
    const two = await connected("two", "shop.reviews.2");
    await connected("other", "shop.ratings.1");
    refused.add("shop.reviews.1");
    assert.equal(await h.server!.reverify(reviews, check), true, "stream two still proves shop/reviews");
    const ended = await one.status;
    assert.equal(status[ended.code], "UNAUTHENTICATED");
    assert.match(ended.details, /no longer/);
    await eventually(() => h.server!.proxies().length === 2);
    assert.deepEqual(
      h
        .server!.proxies()
        .map((p) => p.node.id)
        .sort(),
      ["other", "two"],
    );
    refused.add("shop.reviews.2");
    assert.equal(await h.server!.reverify(reviews, check), false);
    assert.equal(status[(await two.status).code], "UNAUTHENTICATED");
    assert.equal(h.server!.proxies().length, 1);
  });

  it("decides nothing and closes nothing when the checks cannot be made", async () => {
    await connected("one", "shop.reviews.1");
    down = true;
    await assert.rejects(h.server!.reverify(reviews, check), (err: AuthenticationError) => {
      return err.code === status.UNAVAILABLE;
    });
    assert.equal(h.server!.proxies().length, 1);
  });

  it("finds no stream for an identity nobody proves", async () => {
    await connected("anonymous", "shop.ratings.1");
    assert.equal(await h.server!.reverify(reviews, check), false);
  });
});
