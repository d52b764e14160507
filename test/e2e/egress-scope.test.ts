import assert from "node:assert/strict";
import { EGRESS_HOSTS_ANNOTATION } from "../../src/mesh/annotations.js";
import { dynamicResources, envoyStat, eventually } from "./envoy-admin.js";
import {
  apply,
  clientPod,
  curl,
  deleteNamespace,
  fortioDeployment,
  meshNamespace,
  programTrafficPolicy,
  service,
  skipUnlessSupported,
  waitPodsReady,
} from "./kit.js";

/**
 * Egress scope on real Envoy sidecars: a client whose annotation scopes it to
 * its own namespace (`./*`) holds only that namespace's Services, reaches
 * them through their clusters, and reaches a Service outside its scope as
 * the docs say: through virtualOutbound's passthrough, to the ClusterIP
 * (kube-proxy picks the endpoint), without that Service's TrafficPolicy. An
 * unscoped client beside it gets the whole mesh and the policy.
 */

const NS = "e2e-scope";
const FAR = "e2e-scope-far";
const NEAR_HOST = `near.${NS}.svc.cluster.local`;
const FAR_HOST = `far.${FAR}.svc.cluster.local`;
const NEAR_CLUSTER = `outbound|8080||${NEAR_HOST}`;

describe("egress scope (sidecar.skiff.dev/egressHosts) on Envoy sidecars", function () {
  before(async function () {
    skipUnlessSupported(this);
    await meshNamespace(NS);
    await meshNamespace(FAR);
    await apply([
      fortioDeployment(NS, "near"),
      service(NS, "near", [{ name: "http", port: 8080 }]),
      fortioDeployment(FAR, "far"),
      service(FAR, "far", [{ name: "http", port: 8080 }]),
      clientPod(NS, "scoped", { [EGRESS_HOSTS_ANNOTATION]: "./*" }),
      clientPod(NS, "whole"),
    ]);
    await waitPodsReady(NS, 3);
    await waitPodsReady(FAR, 1);
    // A policy on far that every caller that holds far's configuration applies.
    await programTrafficPolicy(FAR, "far", {
      http: [{ route: [{}], headers: { response: { set: { "x-far-policy": "applied" } } } }],
    });
  });
  after(async () => {
    await deleteNamespace(NS);
    await deleteNamespace(FAR);
  });

  it("holds only the Services in scope: near's cluster, no resource of far", async () => {
    const dump = await eventually("the scoped sidecar to hold near's cluster", async () => {
      const held = await dynamicResources(NS, "scoped");
      return held.clusters[NEAR_CLUSTER] ? held : undefined;
    });
    const mentionsFar = (names: string[]) =>
      names.filter((n) => n.includes(FAR_HOST) || n.includes(`.${FAR}.`));
    assert.deepEqual(mentionsFar(Object.keys(dump.clusters)), []);
    assert.deepEqual(mentionsFar(Object.keys(dump.routes)), []);
    assert.deepEqual(mentionsFar(Object.keys(dump.endpoints)), []);
    const routes = Object.keys(dump.routes);
    assert.ok(routes.includes(`${NEAR_HOST}:8080`), JSON.stringify(routes));
    // Every outbound cluster it holds is of its own namespace.
    const outbound = Object.keys(dump.clusters).filter((n) => n.startsWith("outbound|"));
    assert.ok(
      outbound.every((n) => n.endsWith(`.${NS}.svc.cluster.local`)),
      JSON.stringify(outbound),
    );

    const whole = await eventually("the unscoped sidecar to hold far's cluster", async () => {
      const held = await dynamicResources(NS, "whole");
      return held.clusters[`outbound|8080||${FAR_HOST}`] ? held : undefined;
    });
    assert.ok(Object.keys(whole.clusters).length > Object.keys(dump.clusters).length);
  });

  it("reaches an in-scope Service through the Service's cluster", async () => {
    const stat = `cluster.${NEAR_CLUSTER}.upstream_rq_total`;
    const before = (await envoyStat(NS, "scoped", stat)) ?? 0;
    const [response] = await curl(NS, "scoped", "http://near:8080/debug");
    assert.equal(response!.status, 200, JSON.stringify(response));
    assert.equal(await envoyStat(NS, "scoped", stat), before + 1);
  });

  it("reaches an out-of-scope Service through the passthrough, without its TrafficPolicy", async () => {
    // The passthrough dials far's ClusterIP, which only kube-proxy's rules make reachable: until it has
    // programmed them (it lags on a loaded machine), the connection is refused and the client's sidecar resets it.
    await eventually("kube-proxy to serve far's ClusterIP", async () => {
      const [answer] = await curl(NS, "scoped", `http://far.${FAR}:8080/debug`);
      return answer!.status === 200 ? answer : undefined;
    });
    const passthrough = "cluster.PassthroughCluster.upstream_cx_total";
    const before = (await envoyStat(NS, "scoped", passthrough)) ?? 0;
    const [scoped] = await curl(NS, "scoped", `http://far.${FAR}:8080/debug`);
    assert.equal(scoped!.status, 200, JSON.stringify(scoped));
    assert.equal(scoped!.headers["x-far-policy"], undefined, "the scoped client applied far's policy");
    assert.equal(await envoyStat(NS, "scoped", passthrough), before + 1);

    // The same call from an unscoped client goes through far's configuration, policy and all.
    const [whole] = await curl(NS, "whole", `http://far.${FAR}:8080/debug`);
    assert.equal(whole!.status, 200, JSON.stringify(whole));
    assert.equal(whole!.headers["x-far-policy"], "applied");
  });

  it("is refused at injection when the annotation is malformed, naming it", async () => {
    await assert.rejects(
      apply([clientPod(NS, "malformed", { [EGRESS_HOSTS_ANNOTATION]: "near" })]),
      /sidecar\.skiff\.dev\/egressHosts/,
    );
  });
});
