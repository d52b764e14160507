import assert from "node:assert/strict";
import { nodeClaimRefusal } from "../../../src/xds/node-binding.js";
import { nodePod } from "../../../src/xds/node.js";

describe("nodeClaimRefusal: a node id that names a Pod needs a token bound to that Pod", () => {
  const sidecar = "sidecar~10.0.0.1~reviews-v1.shop~shop.svc.cluster.local";
  const agent = "skiff-agent~10.0.0.1~reviews-v1.shop~shop.svc.cluster.local";
  const bound = { namespace: "shop", serviceAccount: "reviews", pod: "reviews-v1" };

  it("accepts the Pod's own token, for its sidecar and for its agent", () => {
    assert.equal(nodeClaimRefusal(sidecar, bound), undefined);
    assert.equal(nodeClaimRefusal(agent, bound), undefined);
  });

  it("refuses a token bound to another Pod, to a Pod of that name in another namespace, or to none", () => {
    assert.match(
      nodeClaimRefusal(sidecar, { ...bound, pod: "ratings-v1" })!,
      /names the Pod shop\/reviews-v1, but the token is bound to the Pod shop\/ratings-v1/,
    );
    assert.match(
      nodeClaimRefusal(sidecar, { ...bound, namespace: "other" })!,
      /bound to the Pod other\/reviews-v1/,
    );
    assert.match(
      nodeClaimRefusal(agent, { namespace: "shop", serviceAccount: "reviews" })!,
      /bound to no Pod/,
    );
  });

  it("lets a node id that names no Pod use any valid token: it claims nothing", () => {
    for (const id of [
      "sidecar~x",
      "client-7",
      "sidecar~10.0.0.1~nodot~x",
      "sidecar~1~.shop~x",
      "sidecar~1~pod.~x",
    ])
      assert.equal(nodeClaimRefusal(id, { namespace: "shop", serviceAccount: "reviews" }), undefined, id);
  });

  it("reads the Pod from the third field, splitting at the last dot (Pod names may hold dots)", () => {
    assert.deepEqual(nodePod("sidecar~1~web.v1.shop~x"), { namespace: "shop", name: "web.v1" });
  });
});
