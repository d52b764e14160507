import assert from "node:assert/strict";
import { credentials } from "@grpc/grpc-js";
import { EchoClient, callEcho } from "../support/grpc/echo.js";
import { startBackend, runXdsClient, type BackendHandle } from "../support/grpc/spawn.js";
import { isAlive, waitForExit } from "../support/processes.js";

/**
 * Self-check of the gRPC traffic kit (test/support/grpc) without an xDS
 * server: real backend processes, called directly by the client program.
 */
describe("gRPC traffic kit (direct targets)", function () {
  this.timeout(90_000);
  let v1: BackendHandle;
  let v2: BackendHandle;
  let flaky: BackendHandle;

  before(async () => {
    [v1, v2, flaky] = await Promise.all([
      startBackend("v1"),
      startBackend("v2", { delayMs: 20 }),
      startBackend("flaky", { failRatio: 0.5 }),
    ]);
  });

  after(async () => {
    await Promise.all([v1, v2, flaky].filter(Boolean).map((b) => b.stop()));
  });

  it("answers with the backend's name and echoes the request metadata", async () => {
    const client = new EchoClient(v2.address, credentials.createInsecure());
    try {
      const outcome = await callEcho(
        client,
        { message: "hi" },
        { metadata: { "x-user": "tester" }, deadlineMs: 5000 },
      );
      assert.equal(outcome.error, undefined);
      assert.equal(outcome.response?.backend, "v2");
      assert.equal(outcome.response?.echoedHeaders["x-user"], "tester");
      assert.ok(outcome.latencyMs >= 19, `latency ${outcome.latencyMs} ms despite --delay-ms 20`);
    } finally {
      client.close();
    }
  });

  it("counts calls by backend and status in the client program", async () => {
    const [r1, r2] = await Promise.all([
      runXdsClient({ target: v1.address, calls: 40, concurrency: 8, metadata: { "x-user": "tester" } }),
      runXdsClient({ target: v2.address, calls: 10, concurrency: 2 }),
    ]);
    assert.equal(r1.ready, true);
    assert.deepEqual(r1.byBackend, { v1: 40 });
    assert.deepEqual(r1.byStatus, { OK: 40 });
    assert.deepEqual(r2.byBackend, { v2: 10 });
    assert.ok(r2.latencyMs.p50 >= 19 && r2.latencyMs.max >= r2.latencyMs.p50, JSON.stringify(r2.latencyMs));
  });

  it("fails exactly half of the calls with --fail-ratio 0.5", async () => {
    const r = await runXdsClient({ target: flaky.address, calls: 50, concurrency: 5 });
    assert.deepEqual(r.byStatus, { OK: 25, UNAVAILABLE: 25 });
    assert.deepEqual(r.byBackend, { flaky: 25 });
    assert.deepEqual(r.failuresByBackend, { flaky: 25 });
  });

  it("changes a running backend's behaviour on request", async () => {
    await flaky.configure({ failRatio: 1, failCode: "RESOURCE_EXHAUSTED" });
    const failing = await runXdsClient({ target: flaky.address, calls: 6, concurrency: 2 });
    assert.deepEqual(failing.byStatus, { RESOURCE_EXHAUSTED: 6 });
    await flaky.configure({ failRatio: 0 });
    const healthy = await runXdsClient({ target: flaky.address, calls: 6, concurrency: 2 });
    assert.deepEqual(healthy.byStatus, { OK: 6 });
  });

  it("converges in watch mode, and reports a timeout as a failure", async () => {
    const converged = await runXdsClient({
      target: v1.address,
      mode: "until",
      expectBackends: ["v1"],
      window: 5,
      timeoutMs: 10_000,
    });
    assert.equal(typeof converged.convergedMs, "number");
    assert.deepEqual(converged.lastWindow, { v1: 5 });
    await assert.rejects(
      runXdsClient({ target: v1.address, mode: "until", expectBackends: ["v9"], window: 5, timeoutMs: 500 }),
      /exited with 3[\s\S]*"timedOut":true/,
    );
  });

  it("stops a backend for good", async () => {
    const b = await startBackend("short-lived");
    const pid = b.pid!;
    assert.ok(isAlive(pid));
    await b.stop();
    await waitForExit([pid], 5000);
  });
});
