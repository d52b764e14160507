import assert from "node:assert/strict";
import type { TrafficPolicy } from "../../src/api/v1alpha1/generated/trafficpolicy.js";
import { trafficModel } from "../../src/compile/traffic.js";
import { redirectLocation, routeHttp } from "../../src/policy/route.js";
import { envoyStat } from "./envoy-admin.js";
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
  type CurlResult,
} from "./kit.js";

/**
 * TrafficPolicy redirects (Istio's HTTPRedirect) on real Envoy sidecars: the
 * client's sidecar answers with the status and Location itself, and the
 * request never leaves it. curl does not follow redirects (no -L). Every
 * Location is also checked against `redirectLocation`, the model that
 * `skiff simulate` uses, so simulate and Envoy agree.
 */

const NS = "e2e-redirect";
const URL = "http://web:8080";
const OUTBOUND = `cluster.outbound|8080||web.${NS}.svc.cluster.local.upstream_rq_total`;

const RULES = [
  {
    name: "moved",
    match: [{ path: { prefix: "/old" } }],
    redirect: { uri: "/new/home", authority: "www.example.com" },
    headers: { response: { set: { "x-redirected-by": "skiff" } } },
  },
  {
    name: "secure",
    match: [{ path: { prefix: "/secure" } }],
    redirect: { scheme: "https", port: 8443, redirectCode: 302 },
  },
  {
    name: "temporary",
    match: [{ path: { exact: "/tmp" } }],
    redirect: { uri: "/elsewhere", redirectCode: 307 },
  },
  { name: "port", match: [{ path: { prefix: "/port" } }], redirect: { port: 9090, redirectCode: 308 } },
  {
    name: "see-other",
    match: [{ method: "POST" }],
    redirect: { authority: "forms.example.com:8081", redirectCode: 303 },
  },
  { name: "rest", route: [{}] },
];

/** Applies the policy and waits until the client's sidecar holds it. */
async function redirect(http: object[]): Promise<TrafficPolicy> {
  return (await programTrafficPolicy(NS, "web", { http })) as TrafficPolicy;
}

/** The client sidecar's requests to web so far. */
async function forwarded(): Promise<number> {
  return (await envoyStat(NS, "client", OUTBOUND)) ?? 0;
}

async function request(path: string, args: string[] = [], url = URL): Promise<CurlResult> {
  const [response] = await curl(NS, "client", `${url}${path}`, { args });
  return response!;
}

/** The Location `skiff simulate` predicts for a request from the client's application. */
function predicted(tp: TrafficPolicy, path: string, method = "GET", host = "web:8080"): string | undefined {
  const route = routeHttp(trafficModel(tp), { method, path, headers: {}, host });
  return route.kind === "Redirect"
    ? redirectLocation(route.redirect, { scheme: "http", host, path })
    : undefined;
}

describe("redirects answered by Envoy sidecars", function () {
  before(async function () {
    skipUnlessSupported(this);
    await meshNamespace(NS);
    await apply([
      fortioDeployment(NS, "web"),
      service(NS, "web", [
        { name: "http", port: 8080 },
        { name: "http-80", port: 80, targetPort: 8080 },
      ]),
      clientPod(NS),
    ]);
    await waitPodsReady(NS, 2);
  });
  after(() => deleteNamespace(NS));

  it("redirects a path and authority with 301, keeping the query, and the request never reaches web", async () => {
    const tp = await redirect(RULES);
    const before = await forwarded();
    const response = await request("/old/page?lang=en");
    assert.equal(response.status, 301, JSON.stringify(response));
    assert.equal(response.headers.location, "http://www.example.com/new/home?lang=en");
    assert.equal(response.headers.location, predicted(tp, "/old/page?lang=en"));
    assert.equal(response.headers["x-redirected-by"], "skiff", "response headers apply to the redirect");
    assert.equal(await forwarded(), before, "the sidecar forwarded a redirected request");

    // Requests that no redirect rule takes are forwarded as before.
    const ok = await request("/debug");
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.location, undefined);
    assert.equal(await forwarded(), before + 1);
  });

  it("redirects scheme and port with 302, and a port alone with 308", async () => {
    const tp = await redirect(RULES);
    const secure = await request("/secure/a?b=1");
    assert.equal(secure.status, 302, JSON.stringify(secure));
    assert.equal(secure.headers.location, "https://web:8443/secure/a?b=1");
    assert.equal(secure.headers.location, predicted(tp, "/secure/a?b=1"));

    const port = await request("/port/x");
    assert.equal(port.status, 308, JSON.stringify(port));
    assert.equal(port.headers.location, "http://web:9090/port/x");
    assert.equal(port.headers.location, predicted(tp, "/port/x"));
  });

  it("answers 307 and 303, on an exact path and on a method", async () => {
    const tp = await redirect(RULES);
    const temporary = await request("/tmp");
    assert.equal(temporary.status, 307, JSON.stringify(temporary));
    assert.equal(temporary.headers.location, "http://web:8080/elsewhere");
    assert.equal(temporary.headers.location, predicted(tp, "/tmp"));
    assert.equal((await request("/tmp/more")).status, 200, "exact means exact");

    const form = await request("/form?id=7", ["-X", "POST", "-d", "a=b"]);
    assert.equal(form.status, 303, JSON.stringify(form));
    assert.equal(form.headers.location, "http://forms.example.com:8081/form?id=7");
    assert.equal(form.headers.location, predicted(tp, "/form?id=7", "POST"));
  });

  it("takes a changed redirect on the next request: 302 to 307; scheme alone keeps a port but 80", async () => {
    const tp = await redirect(
      RULES.map((r) =>
        r.name === "secure" ? { ...r, redirect: { scheme: "https", redirectCode: 307 } } : r,
      ),
    );
    const secure = await request("/secure/a");
    assert.equal(secure.status, 307, JSON.stringify(secure));
    assert.equal(secure.headers.location, "https://web:8080/secure/a");
    assert.equal(secure.headers.location, predicted(tp, "/secure/a"));

    // Port 80 is http's default: changing the scheme drops it.
    const onDefaultPort = await request("/secure/a", ["-H", "Host: web:80"], "http://web:80");
    assert.equal(onDefaultPort.status, 307, JSON.stringify(onDefaultPort));
    assert.equal(onDefaultPort.headers.location, "https://web/secure/a");
    assert.equal(onDefaultPort.headers.location, predicted(tp, "/secure/a", "GET", "web:80"));
  });
});
