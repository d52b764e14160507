import assert from "node:assert/strict";
import {
  answeredBy,
  apply,
  clientPod,
  curl,
  deleteNamespace,
  fortioDeployment,
  meshNamespace,
  programTrafficPolicy,
  service,
  skipUnlessSupported,
  tally,
  VERSION_SUBSETS,
  waitPodsReady,
} from "./kit.js";
import { waitForEndpointCounts } from "./envoy-admin.js";

const NS = "e2e-routing";

/** Applies a TrafficPolicy and waits until every sidecar that calls reviews holds it. */
async function route(spec: object): Promise<void> {
  await programTrafficPolicy(NS, "reviews", { subsets: VERSION_SUBSETS, ...spec });
}

describe("routing through Envoy sidecars", function () {
  before(async function () {
    skipUnlessSupported(this);
    await meshNamespace(NS);
    await apply([
      fortioDeployment(NS, "reviews-v1", { labels: { app: "reviews", version: "v1" } }),
      fortioDeployment(NS, "reviews-v2", { labels: { app: "reviews", version: "v2" } }),
      service(NS, "reviews", [{ name: "http", port: 8080 }]),
      clientPod(NS),
    ]);
    await waitPodsReady(NS, 3);
    await waitForEndpointCounts(NS, "client", { [`outbound|8080||reviews.${NS}.svc.cluster.local`]: 2 });
  });
  after(() => deleteNamespace(NS));

  it("splits a canary by weight between subsets (400 requests, within 3.75 standard deviations)", async () => {
    await route({
      http: [
        {
          name: "canary",
          route: [
            { subset: "v1", weight: 80 },
            { subset: "v2", weight: 20 },
          ],
        },
      ],
    });
    const responses = await curl(NS, "client", "http://reviews:8080/debug", { count: 400 });
    const counts = tally(
      responses.map((r) => (r.status === 200 ? answeredBy(r.body) : `status ${r.status}`)),
    );
    assert.equal((counts["reviews-v1"] ?? 0) + (counts["reviews-v2"] ?? 0), 400, JSON.stringify(counts));
    const share = (counts["reviews-v2"] ?? 0) / 400;
    assert.ok(
      Math.abs(share - 0.2) <= 0.075,
      `v2 got ${share * 100}% of 400, want 20% ± 7.5: ${JSON.stringify(counts)}`,
    );

    await route({ http: [{ name: "cutover", route: [{ subset: "v2", weight: 100 }] }] });
    const after = await curl(NS, "client", "http://reviews:8080/debug", { count: 50 });
    assert.deepEqual(tally(after.map((r) => answeredBy(r.body))), { "reviews-v2": 50 });
  });

  it("matches on path, header, method and query parameter, first rule first", async () => {
    const toV2 = [{ subset: "v2", weight: 100 }];
    await route({
      http: [
        // fortio answers /debug with its Pod's name, so a matched path is rewritten back to it.
        { name: "by-path", match: [{ path: { prefix: "/v2/" } }], rewrite: { uriPrefix: "/" }, route: toV2 },
        { name: "by-header", match: [{ headers: [{ name: "x-user", exact: "tester" }] }], route: toV2 },
        { name: "by-method", match: [{ method: "DELETE" }], route: toV2 },
        { name: "by-query", match: [{ queryParams: [{ name: "canary", exact: "yes" }] }], route: toV2 },
        { name: "default", route: [{ subset: "v1", weight: 100 }] },
      ],
    });
    const who = async (url: string, args: string[] = []) => {
      const [response] = await curl(NS, "client", url, { args });
      return answeredBy(response!.body);
    };
    assert.equal(await who("http://reviews:8080/debug"), "reviews-v1");
    assert.equal(await who("http://reviews:8080/v2/debug"), "reviews-v2");
    assert.equal(await who("http://reviews:8080/debug", ["-H", "x-user: tester"]), "reviews-v2");
    assert.equal(await who("http://reviews:8080/debug", ["-H", "x-user: someone"]), "reviews-v1");
    assert.equal(await who("http://reviews:8080/debug", ["-X", "DELETE"]), "reviews-v2");
    assert.equal(await who("http://reviews:8080/debug?canary=yes"), "reviews-v2");
    assert.equal(await who("http://reviews:8080/debug?canary=no"), "reviews-v1");
  });

  it("rewrites the path and authority, and sets, adds and removes headers both ways", async () => {
    await route({
      http: [
        {
          name: "rewritten",
          match: [{ path: { prefix: "/api" } }],
          rewrite: { uriPrefix: "/debug", authority: "reviews.internal" },
          headers: {
            request: {
              set: { "x-skiff-set": "one" },
              add: { "x-skiff-added": "two" },
              remove: ["x-drop-me"],
            },
            response: { set: { "x-answer": "skiff" }, remove: ["content-type"] },
          },
          route: [{ subset: "v1", weight: 100 }],
        },
      ],
    });
    const [response] = await curl(NS, "client", "http://reviews:8080/api?q=1", {
      args: ["-H", "x-drop-me: please"],
    });
    assert.equal(response!.status, 200, response!.body);
    // fortio's /debug echoes the request it received.
    assert.match(response!.body, /^GET \/debug\?q=1 HTTP\/1\.1/m);
    assert.match(response!.body, /^Host: reviews\.internal$/m);
    assert.match(response!.body, /^X-Skiff-Set: one$/im);
    assert.match(response!.body, /^X-Skiff-Added: two$/im);
    assert.doesNotMatch(response!.body, /x-drop-me/i);
    assert.equal(response!.headers["x-answer"], "skiff");
    assert.equal(response!.headers["content-type"], undefined);
  });
});
