import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, runSkiff, type CliRun } from "../../support/skiff-cli.js";

const FIXTURES = join(ROOT, "test", "testdata", "simulate");
const BOOKINFO = join(FIXTURES, "bookinfo");

/** Runs `skiff simulate` as a user would, on the bookinfo fixtures plus `args`. */
function simulate(...args: string[]): Promise<CliRun> {
  return simulateOn(BOOKINFO, ...args);
}

function simulateOn(fixtures: string, ...args: string[]): Promise<CliRun> {
  return runSkiff("simulate", "-f", fixtures, ...args);
}

const REVIEWS = "reviews.bookinfo.svc.cluster.local";

describe("skiff simulate", function () {
  this.timeout(60_000);

  it("allows productpage to read reviews over mTLS, with the exact JSON shape, and exits 0", async () => {
    const run = await simulate(
      "--from",
      "bookinfo/bookinfo-productpage",
      "--to",
      "reviews.bookinfo:9080",
      "--path",
      "/reviews/1",
      "-o",
      "json",
    );
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), {
      route: {
        policy: "bookinfo/reviews",
        rule: "canary",
        destination: { service: REVIEWS, subset: "v1" },
        destinations: [
          { service: REVIEWS, subset: "v2", weight: 10 },
          { service: REVIEWS, subset: "v1", weight: 90 },
        ],
      },
      mtls: { serverMode: "STRICT", clientUsesMtls: true },
      authorization: {
        decision: "ALLOW",
        policy: "bookinfo/reviews-viewer",
        rule: 0,
        reason: "allowed by ALLOW policy bookinfo/reviews-viewer, rule 0",
      },
    });
  });

  it("routes by header and reports no TrafficPolicy as null", async () => {
    const tester = JSON.parse(
      (
        await simulate(
          "--from",
          "bookinfo/bookinfo-productpage",
          "--to",
          "reviews.bookinfo:9080",
          "--path",
          "/reviews/1",
          "-H",
          "End-User: jason",
          "-o",
          "json",
        )
      ).stdout,
    );
    assert.deepEqual(tester.route.destination, { service: REVIEWS, subset: "v3" });
    assert.equal(tester.route.rule, "testers");

    const details = JSON.parse(
      (
        await simulate(
          "--from",
          "bookinfo/bookinfo-productpage",
          "--to",
          "details.bookinfo:9080",
          "-o",
          "json",
        )
      ).stdout,
    );
    assert.deepEqual(details.route, {
      policy: null,
      rule: null,
      destination: { service: "details.bookinfo.svc.cluster.local", subset: null },
      destinations: [{ service: "details.bookinfo.svc.cluster.local", subset: null, weight: 100 }],
    });
    assert.deepEqual(details.mtls, { serverMode: "PERMISSIVE", clientUsesMtls: true });
  });

  it("denies an identity the ALLOW policy does not name, and exits 3", async () => {
    const run = await simulate(
      "--from",
      "bookinfo/bookinfo-ratings",
      "--to",
      "reviews.bookinfo:9080",
      "--path",
      "/reviews/1",
      "-o",
      "json",
    );
    assert.equal(run.code, 3);
    assert.deepEqual(JSON.parse(run.stdout).authorization, {
      decision: "DENY",
      policy: null,
      rule: null,
      reason:
        "no ALLOW policy matches the request, and one applies to the workload (bookinfo/reviews-viewer)",
    });
  });

  it("denies a plaintext client of a STRICT port", async () => {
    for (const client of [
      ["--from", "bookinfo/bookinfo-productpage", "--plaintext"],
      ["--from-ip", "192.168.7.7"],
    ]) {
      const run = await simulate(
        ...client,
        "--to",
        "reviews.bookinfo:9080",
        "--path",
        "/reviews/1",
        "-o",
        "json",
      );
      assert.equal(run.code, 3);
      const result = JSON.parse(run.stdout);
      assert.deepEqual(result.mtls, { serverMode: "STRICT", clientUsesMtls: false });
      assert.deepEqual(result.authorization, {
        decision: "DENY",
        policy: null,
        rule: null,
        reason: "plaintext connection to a STRICT port",
      });
    }
  });

  it("attributes a DENY: notPrincipals ['*'] catches plaintext; a root-namespace policy applies mesh-wide", async () => {
    const admin = await simulate(
      "--from-ip",
      "192.168.7.7",
      "--to",
      "details.bookinfo:9080",
      "--path",
      "/admin/x",
      "-o",
      "json",
    );
    assert.equal(admin.code, 3);
    assert.equal(JSON.parse(admin.stdout).authorization.policy, "bookinfo/details-admin");

    const meshAdmin = await simulate(
      "--from",
      "bookinfo/bookinfo-productpage",
      "--to",
      "details.bookinfo:9080",
      "--path",
      "/admin/x",
    );
    assert.equal(meshAdmin.code, 0, "an mTLS client has a principal");

    const debug = await simulate(
      "--from",
      "bookinfo/bookinfo-productpage",
      "--to",
      "reviews.bookinfo:9080",
      "--path",
      "/debug/vars",
      "-o",
      "json",
    );
    assert.equal(debug.code, 3);
    assert.deepEqual(JSON.parse(debug.stdout).authorization.policy, "skiff-system/deny-debug");
  });

  it("takes remote.ip from X-Forwarded-For's last address, as the server's sidecar does", async () => {
    const decide = async (...headers: string[]) => {
      const run = await simulateOn(
        BOOKINFO,
        "-f",
        join(FIXTURES, "remote-ip"),
        "--from",
        "bookinfo/bookinfo-productpage",
        "--to",
        "reviews.bookinfo:9080",
        "--path",
        "/reviews/1",
        ...headers.flatMap((h) => ["-H", h]),
        "-o",
        "json",
      );
      const { decision, policy } = JSON.parse(run.stdout).authorization;
      return [decision, policy];
    };
    assert.deepEqual(await decide(), ["ALLOW", "bookinfo/reviews-viewer"]);
    assert.deepEqual(await decide("x-forwarded-for: 203.0.113.7"), [
      "DENY",
      "bookinfo/deny-documentation-net",
    ]);
    assert.deepEqual(await decide("x-forwarded-for: 203.0.113.7, 10.0.0.9"), [
      "ALLOW",
      "bookinfo/reviews-viewer",
    ]);
    assert.deepEqual(await decide("x-forwarded-for: 10.0.0.9, 203.0.113.7"), [
      "DENY",
      "bookinfo/deny-documentation-net",
    ]);
    // Not an address: Envoy falls back to the connection's peer.
    assert.deepEqual(await decide("x-forwarded-for: unknown"), ["ALLOW", "bookinfo/reviews-viewer"]);
  });

  it("follows portLevelMtls at the container port: ratings' port is plaintext, so principals never match", async () => {
    const run = await simulate(
      "--from",
      "bookinfo/bookinfo-reviews",
      "--to",
      "ratings.bookinfo:80",
      "--path",
      "/ratings/1",
      "-o",
      "json",
    );
    assert.equal(run.code, 3);
    const result = JSON.parse(run.stdout);
    assert.deepEqual(result.mtls, { serverMode: "DISABLE", clientUsesMtls: false });
    assert.equal(result.authorization.decision, "DENY");
  });

  it("reports PERMISSIVE on a proxyless gRPC server as what it serves: plaintext", async () => {
    const run = await simulateOn(
      join(FIXTURES, "proxyless"),
      "--from",
      "shop/reviews",
      "--to",
      "ratings.shop:9090",
      "-o",
      "json",
    );
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout).mtls, { serverMode: "DISABLE", clientUsesMtls: false });
  });

  it("treats a TCP port as Istio does: a DENY rule's HTTP-only paths are dropped", async () => {
    const run = await simulate("--from", "bookinfo/bookinfo-reviews", "--to", "mongodb.bookinfo:27017");
    assert.equal(run.code, 3);
    assert.match(run.stdout, /DENY: denied by DENY policy skiff-system\/deny-debug, rule 0/);
    assert.match(run.stdout, /audited: +bookinfo\/audit-mongodb\/0/);
  });

  it("shows a redirect as the outcome: the client's sidecar answers, nothing reaches the Service, exit 0", async () => {
    const redirect = join(FIXTURES, "redirect");
    const run = await simulate(
      "-f",
      redirect,
      "--from",
      "bookinfo/bookinfo-productpage",
      "--to",
      "details.bookinfo:9080",
      "--path",
      "/v1/details/1?lang=en",
      "-o",
      "json",
    );
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), {
      route: {
        policy: "bookinfo/details",
        rule: "moved",
        redirect: { code: 301, location: "http://details.example.com/details?lang=en" },
        destination: null,
        destinations: [],
      },
      mtls: null,
      authorization: null,
    });

    const secure = await simulate(
      "-f",
      redirect,
      "--from",
      "bookinfo/bookinfo-productpage",
      "--to",
      "details.bookinfo:9080",
      "--path",
      "/details/1",
      "-H",
      "x-secure: 1",
    );
    assert.equal(secure.code, 0, secure.stderr);
    const lines = secure.stdout.trim().split("\n");
    assert.match(
      lines[0]!,
      /^route: +bookinfo\/details rule secure -> redirect 307 to https:\/\/details\.bookinfo:8443\/details\/1$/,
    );
    assert.match(lines[1]!, /^answered by: +the client's sidecar/);

    const forwarded = await simulate(
      "-f",
      redirect,
      "--from",
      "bookinfo/bookinfo-productpage",
      "--to",
      "details.bookinfo:9080",
      "--path",
      "/details/1",
      "-o",
      "json",
    );
    assert.equal(JSON.parse(forwarded.stdout).route.rule, "rest");
  });

  it("prints readable text by default", async () => {
    const run = await simulate(
      "--from",
      "bookinfo/bookinfo-productpage",
      "--to",
      "reviews.bookinfo:9080",
      "--path",
      "/reviews/1",
    );
    assert.equal(run.code, 0);
    const lines = run.stdout.trim().split("\n");
    assert.match(
      lines[0]!,
      /^route: +bookinfo\/reviews rule canary -> reviews\.bookinfo\.svc\.cluster\.local subset v1/,
    );
    assert.match(lines[1]!, /^workload: +bookinfo\/reviews-v1-5c7b8 port 9080/);
    assert.match(lines[2]!, /^mtls: +server STRICT .*cluster\.local\/ns\/bookinfo\/sa\/bookinfo-productpage/);
    assert.match(lines[3]!, /^authorization: +ALLOW/);
  });

  for (const file of [
    "ap-bad-ip-block.yaml",
    "ap-unknown-action.yaml",
    "pa-port-level-without-selector.yaml",
    "tp-bad-regex.yaml",
    "tp-lookahead-regex.yaml",
    "tp-route-and-redirect.yaml",
  ]) {
    it(`exits 1 on ${file}, naming the field`, async () => {
      const path = join(FIXTURES, "invalid", file);
      const field = /^# expect-field: (.*)$/m.exec(readFileSync(path, "utf8"))![1]!;
      const run = await simulate(
        "-f",
        path,
        "--from",
        "bookinfo/bookinfo-productpage",
        "--to",
        "reviews.bookinfo:9080",
      );
      assert.equal(run.code, 1);
      assert.equal(run.stdout, "");
      assert.ok(run.stderr.includes(`: ${field}: `), run.stderr);
    });
  }

  it("exits 2 on bad arguments, 1 on targets the files do not have", async () => {
    assert.equal((await simulate("--to", "reviews.bookinfo:9080")).code, 2, "no client");
    assert.equal((await simulate("--from", "a/b", "--to", "reviews")).code, 2, "no port");
    const unknown = await simulate("--from", "a/b", "--to", "nothing.bookinfo:80");
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /Service bookinfo\/nothing is not in the files/);
    assert.equal((await simulate("--from", "a/b", "--to", "reviews.bookinfo:81")).code, 1, "no such port");
    assert.equal((await simulate("--from", "a/b", "--to", "reviews.bookinfo:9080", "-H", "nocolon")).code, 2);
  });

  const request = ["--from", "bookinfo/bookinfo-productpage", "--to", "reviews.bookinfo:9080"];
  for (const [flags, expected] of [
    [["--from-ip", "999.1.1.1"], /--from-ip 999\.1\.1\.1: not an IP address/],
    [["--from-ip", "10.0.0.1/8"], /--from-ip 10\.0\.0\.1\/8: not an IP address/],
    [["--to", "reviews.bookinfo:99999"], /--to reviews\.bookinfo:99999: the port must be from 1 to 65535/],
    [["--to", "reviews.bookinfo:0"], /the port must be from 1 to 65535/],
    [["--to", "Reviews.bookinfo:9080"], /--to Reviews\.bookinfo:9080: /],
    [["--from", "bookinfo/bookinfo-productpage/x"], /--from .*: expected <namespace>\/<serviceaccount>/],
    [["--from", "Book_Info/sa"], /--from Book_Info\/sa: /],
    [["--method", "GET /admin"], /--method "GET \/admin": not an HTTP method/],
    [["--path", "reviews/1"], /--path "reviews\/1": must start with \//],
    [["--path", "/reviews 1"], /--path "\/reviews 1": /],
    [["-H", "bad name: x"], /-H "bad name: x": /],
    [["-H", "x-user: a\r\nx-admin: 1"], /-H .*: /],
    [["-o", "yaml"], /-o must be json or text/],
  ] as const) {
    it(`exits 2 on ${JSON.stringify(flags)}, before reading any file`, async () => {
      const run = await runSkiff("simulate", "-f", "/nonexistent", ...request, ...flags);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, expected);
    });
  }

  describe("input files", () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), "skiff-simulate-"));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it("says in one line that a missing file is missing, and exits 1", async () => {
      const run = await simulate("-f", join(dir, "nothing.yaml"), ...request);
      assert.equal(run.code, 1);
      assert.equal(
        run.stderr.trim(),
        `skiff simulate: ${join(dir, "nothing.yaml")}: no such file or directory`,
      );
    });

    it("reports every bad file, not only the first, and exits 1", async () => {
      await writeFile(join(dir, "a.yaml"), "words, not objects\n");
      await writeFile(join(dir, "b.yaml"), Uint8Array.from([0, 1, 2, 0xff]));
      await writeFile(join(dir, "c.yaml"), "");
      const run = await simulate("-f", dir, ...request);
      assert.equal(run.code, 1);
      assert.equal(run.stdout, "");
      for (const name of ["a.yaml", "b.yaml", "c.yaml"]) assert.match(run.stderr, new RegExp(`${name}: `));
    });
  });
});
