import assert from "node:assert/strict";
import { envoyStats, readUntil, statDeltas, statValue } from "./envoy-admin.js";
import {
  apply,
  clientPod,
  deleteNamespace,
  exec,
  fortioDeployment,
  meshNamespace,
  podOf,
  programTrafficPolicy,
  service,
  skipUnlessSupported,
  tally,
  VERSION_SUBSETS,
  waitPodsReady,
} from "./kit.js";

/**
 * Timeouts, retries, fault injection and mirroring of TrafficPolicy, on real
 * Envoy sidecars. The client's sidecar applies all of them; the numbers come
 * from curl (status, time) and from Envoy's own counters, on the client's
 * sidecar and on the backends'.
 */

const NS = "e2e-resilience";
const HOST = `echo.${NS}.svc.cluster.local`;
const URL = "http://echo:8080";
const V1 = `outbound|8080|v1|${HOST}`;
const V2 = `outbound|8080|v2|${HOST}`;
const INBOUND = "inbound|8080||";

/** Applies the policy with one catch-all rule to v1, and waits until every sidecar holds it. */
async function rule(fields: object): Promise<void> {
  await programTrafficPolicy(NS, "echo", {
    subsets: VERSION_SUBSETS,
    http: [{ name: "all", route: [{ subset: "v1" }], ...fields }],
  });
}

/** One exchange as curl timed it. */
interface Timed {
  status: number;
  seconds: number;
  servedBy: string;
}

/** Sends `count` requests one after the other from the client Pod, each timed by curl. */
async function timed(url: string, count = 1): Promise<Timed[]> {
  const one = [
    "-s",
    "-m",
    "10",
    "-o",
    "/dev/null",
    "-w",
    "%{http_code} %{time_total} %header{x-served-by}\\n",
    url,
  ];
  const args = ["curl", ...one];
  for (let i = 1; i < count; i++) args.push("--next", ...one);
  const result = await exec(NS, "client", args, { timeoutMs: 120_000 });
  const lines = result.stdout.trim().split("\n");
  assert.equal(lines.length, count, `curl exited ${result.code}: ${result.stdout}${result.stderr}`);
  return lines.map((line) => {
    const [status, seconds, servedBy] = line.split(" ");
    return { status: Number(status), seconds: Number(seconds), servedBy: servedBy ?? "" };
  });
}

describe("resilience through Envoy sidecars", function () {
  let v1 = "";
  let v2 = "";

  before(async function () {
    skipUnlessSupported(this);
    await meshNamespace(NS);
    await apply([
      // fortio caps ?delay= at 1.5s unless told otherwise. Without a query
      // string, v1 and v2 apply their default parameters: each names itself in
      // x-served-by, and v2 answers 202 after 3s (the mirror's slow shadow).
      fortioDeployment(NS, "echo-v1", {
        labels: { app: "echo", version: "v1" },
        args: ["-max-echo-delay", "5s", "-echo-server-default-params", "header=x-served-by:v1"],
      }),
      fortioDeployment(NS, "echo-v2", {
        labels: { app: "echo", version: "v2" },
        args: [
          "-max-echo-delay",
          "5s",
          "-echo-server-default-params",
          "delay=3s&status=202&header=x-served-by:v2",
        ],
      }),
      service(NS, "echo", [{ name: "http", port: 8080 }]),
      clientPod(NS),
    ]);
    await waitPodsReady(NS, 3);
    v1 = (await podOf(NS, "app=echo,version=v1")).metadata.name;
    v2 = (await podOf(NS, "app=echo,version=v2")).metadata.name;
  });
  after(() => deleteNamespace(NS));

  describe("timeouts", () => {
    it("answers 504 after the rule's timeout when the backend is slower, and waits without one", async () => {
      await rule({});
      const [control] = await timed(`${URL}/echo?delay=3s`);
      assert.equal(control!.status, 200, "without a timeout the 3 s answer arrives");
      assert.ok(control!.seconds >= 2.9, `the backend delays 3 s: took ${control!.seconds} s`);

      await rule({ timeout: "1s" });
      const { result, deltas } = await statDeltas(NS, { client: [`cluster.${V1}.upstream_rq_timeout`] }, () =>
        timed(`${URL}/echo?delay=3s`, 3),
      );
      for (const r of result) {
        assert.equal(r.status, 504, JSON.stringify(result));
        assert.ok(r.seconds >= 0.9 && r.seconds < 2.5, `504 after 1 s, not ${r.seconds} s`);
      }
      // The router's timeout answered (not a stream duration limit, which would also cut injected delays).
      assert.equal(deltas[`client: cluster.${V1}.upstream_rq_timeout`], 3);
      console.log(`      timeout 1s: ${result.map((r) => `${r.status} in ${r.seconds}s`).join(", ")}`);
    });

    it("retries a try that exceeds perTryTimeout, within the overall timeout", async () => {
      await rule({ timeout: "10s", retries: { attempts: 2, perTryTimeout: "500ms", retryOn: ["5xx"] } });
      const { result, deltas } = await statDeltas(
        NS,
        {
          client: [`cluster.${V1}.upstream_rq_retry`, `cluster.${V1}.upstream_rq_per_try_timeout`],
        },
        () => timed(`${URL}/echo?delay=3s`),
      );
      // Three tries of 0.5 s, plus the retries' back-off (25 ms base).
      assert.equal(result[0]!.status, 504);
      assert.ok(result[0]!.seconds >= 1.4 && result[0]!.seconds < 3, `took ${result[0]!.seconds} s`);
      assert.deepEqual(deltas, {
        [`client: cluster.${V1}.upstream_rq_retry`]: 2,
        [`client: cluster.${V1}.upstream_rq_per_try_timeout`]: 3,
      });
      console.log(`      perTryTimeout 500ms x3: 504 in ${result[0]!.seconds}s`);
    });
  });

  describe("retries", () => {
    /** 10 requests that v1 always fails with `status`: the retries the client made, and the tries v1 answered. */
    async function failing(status: number) {
      const { result, deltas } = await statDeltas(
        NS,
        {
          client: [`cluster.${V1}.upstream_rq_retry`, `cluster.${V1}.upstream_rq_total`],
          [v1]: [`cluster.${INBOUND}.upstream_rq_${status}`],
        },
        () => timed(`${URL}/echo?status=${status}`, 10),
      );
      assert.deepEqual(tally(result.map((r) => String(r.status))), { [status]: 10 });
      return {
        retries: deltas[`client: cluster.${V1}.upstream_rq_retry`],
        sent: deltas[`client: cluster.${V1}.upstream_rq_total`],
        received: deltas[`${v1}: cluster.${INBOUND}.upstream_rq_${status}`],
      };
    }

    it("retries a failing backend `attempts` times on the listed conditions, and not at all with 0", async () => {
      await rule({ retries: { attempts: 3, retryOn: ["5xx"] } });
      assert.deepEqual(await failing(503), { retries: 30, sent: 40, received: 40 });

      await rule({ retries: { attempts: 0 } });
      assert.deepEqual(await failing(503), { retries: 0, sent: 10, received: 10 });

      // Conditions that do not cover a 500 retry nothing.
      await rule({ retries: { attempts: 3, retryOn: ["reset", "connect-failure"] } });
      assert.deepEqual(await failing(500), { retries: 0, sent: 10, received: 10 });
    });

    it("without retries, applies Istio's default: 2 retries of a 503, none of a 500", async () => {
      await rule({});
      assert.deepEqual(await failing(503), { retries: 20, sent: 30, received: 30 });
      assert.deepEqual(await failing(500), { retries: 0, sent: 10, received: 10 });

      // attempts alone keeps the default conditions.
      await rule({ retries: { attempts: 4 } });
      assert.deepEqual(await failing(503), { retries: 40, sent: 50, received: 50 });
    });

    it("recovers from a backend failing half the time: every 503 it sent was retried or returned", async () => {
      await rule({ retries: { attempts: 5, retryOn: ["5xx"] } });
      const { result, deltas } = await statDeltas(
        NS,
        {
          client: [`cluster.${V1}.upstream_rq_retry`],
          [v1]: [`cluster.${INBOUND}.upstream_rq_503`, `cluster.${INBOUND}.upstream_rq_200`],
        },
        () => timed(`${URL}/echo?status=503:50`, 100),
      );
      const counts = tally(result.map((r) => String(r.status)));
      const ok = counts["200"] ?? 0;
      const failed = counts["503"] ?? 0;
      assert.equal(ok + failed, 100, JSON.stringify(counts));
      // A request fails only when all 6 tries fail: 1/64, so ~1.6 of 100.
      assert.ok(failed <= 8, `${failed} of 100 failed after 5 retries`);
      const retries = deltas[`client: cluster.${V1}.upstream_rq_retry`]!;
      const backend503 = deltas[`${v1}: cluster.${INBOUND}.upstream_rq_503`]!;
      // Every 503 v1 answered was either retried or returned to the caller.
      assert.equal(backend503, retries + failed, JSON.stringify(deltas));
      // v1's 200s include readiness probes, so at least the successes.
      assert.ok(deltas[`${v1}: cluster.${INBOUND}.upstream_rq_200`]! >= ok);
      console.log(
        `      503:50 with 5 retries: ${ok} ok, ${failed} failed, ${retries} retries, v1 answered ${backend503} 503s`,
      );
    });
  });

  describe("fault injection", () => {
    it("aborts every request with the configured status at 100%, without reaching the backend", async () => {
      await rule({ fault: { abort: { httpStatus: 418, percent: 100 } } });
      const { result, deltas } = await statDeltas(
        NS,
        { client: ["*.fault.aborts_injected", `cluster.${V1}.upstream_rq_total`] },
        () => timed(`${URL}/echo`, 20),
      );
      assert.deepEqual(tally(result.map((r) => String(r.status))), { "418": 20 });
      assert.deepEqual(deltas, {
        "client: *.fault.aborts_injected": 20,
        [`client: cluster.${V1}.upstream_rq_total`]: 0,
      });
      // The body is Envoy's own, the fault filter's.
      const body = await exec(NS, "client", ["curl", "-s", "-m", "10", `${URL}/echo`]);
      assert.equal(body.stdout, "fault filter abort");
    });

    it("aborts about half of 400 requests at 50% (within 4 standard deviations)", async () => {
      await rule({ fault: { abort: { httpStatus: 418, percent: 50 } } });
      const { result, deltas } = await statDeltas(NS, { client: ["*.fault.aborts_injected"] }, () =>
        timed(`${URL}/echo`, 400),
      );
      const counts = tally(result.map((r) => String(r.status)));
      const aborted = counts["418"] ?? 0;
      assert.equal(aborted + (counts["200"] ?? 0), 400, JSON.stringify(counts));
      // Binomial(400, 0.5): mean 200, standard deviation 10.
      assert.ok(Math.abs(aborted - 200) <= 40, `${aborted} of 400 aborted, want 200 ± 40`);
      assert.equal(deltas["client: *.fault.aborts_injected"], aborted);
      console.log(`      abort 50%: ${aborted} of 400 aborted`);
    });

    it("delays every request by fixedDelay at 100%", async () => {
      await rule({ fault: { delay: { fixedDelay: "1s", percent: 100 } } });
      const { result, deltas } = await statDeltas(NS, { client: ["*.fault.delays_injected"] }, () =>
        timed(`${URL}/echo`, 5),
      );
      for (const r of result) {
        assert.equal(r.status, 200);
        // Envoy's timer and curl's clock may differ by a few milliseconds.
        assert.ok(r.seconds >= 0.95 && r.seconds < 3, `delayed 1 s, took ${r.seconds} s`);
      }
      assert.equal(deltas["client: *.fault.delays_injected"], 5);
      console.log(`      delay 1s: ${result.map((r) => `${r.seconds}s`).join(", ")}`);
    });

    it("applies neither the rule's timeout nor its retries to injected faults", async () => {
      const retries = { attempts: 3, retryOn: ["5xx"] };
      await rule({ timeout: "1s", retries, fault: { delay: { fixedDelay: "2s" } } });
      const delayed = await statDeltas(NS, { client: [`cluster.${V1}.upstream_rq_retry`] }, () =>
        timed(`${URL}/echo`, 3),
      );
      for (const r of delayed.result) {
        assert.equal(
          r.status,
          200,
          `a 2 s injected delay under a 1 s timeout: ${JSON.stringify(delayed.result)}`,
        );
        assert.ok(r.seconds >= 1.95 && r.seconds < 4.5, `delayed 2 s, took ${r.seconds} s`);
      }
      console.log(
        `      delay 2s under timeout 1s: ${delayed.result.map((r) => `${r.status} in ${r.seconds}s`).join(", ")}`,
      );

      await rule({ retries, fault: { abort: { httpStatus: 503 } } });
      const aborted = await statDeltas(
        NS,
        { client: [`cluster.${V1}.upstream_rq_retry`, `cluster.${V1}.upstream_rq_total`] },
        () => timed(`${URL}/echo`, 10),
      );
      assert.deepEqual(tally(aborted.result.map((r) => String(r.status))), { "503": 10 });
      assert.deepEqual(Object.values(aborted.deltas), [0, 0], JSON.stringify(aborted.deltas));
    });
  });

  describe("mirroring", () => {
    it("answers from the route while the mirror gets a copy of each request, without waiting for it", async () => {
      await rule({ mirror: { subset: "v2", percent: 100 } });
      const before = { client: await envoyStats(NS, "client"), v2: await envoyStats(NS, v2) };
      const result = await timed(`${URL}/echo`, 10);
      // v2 takes 3 s to answer each copy; the caller never waits for it.
      for (const r of result) {
        assert.equal(r.status, 200);
        assert.equal(r.servedBy, "v1");
        assert.ok(r.seconds < 2.5, `the caller waited ${r.seconds} s`);
      }
      // v2 answers the copies (202 after 3 s); the client's sidecar receives and discards them.
      const answered = (all: Map<string, number>, b: Map<string, number>, name: string) =>
        statValue(all, name) - statValue(b, name);
      // Envoy sends the copies on its own: no caller sees them end, so its counters are polled.
      const mirrored = (pod: string, b: Map<string, number>, name: string) =>
        readUntil(
          `${pod}'s sidecar to count 10 more ${name}`,
          () => envoyStats(NS, pod),
          (all) => answered(all, b, name) >= 10,
          { timeoutMs: 30_000, show: (all) => answered(all, b, name) },
        );
      const atV2 = await mirrored(v2, before.v2, `cluster.${INBOUND}.upstream_rq_202`);
      assert.equal(answered(atV2, before.v2, `cluster.${INBOUND}.upstream_rq_202`), 10);
      const atClient = await mirrored("client", before.client, `cluster.${V2}.upstream_rq_202`);
      assert.equal(answered(atClient, before.client, `cluster.${V2}.upstream_rq_202`), 10);
      assert.equal(answered(atClient, before.client, `cluster.${V1}.upstream_rq_200`), 10);
      console.log(`      mirror: v1 answered in ${result.map((r) => `${r.seconds}s`).join(", ")}`);
    });
  });
});
