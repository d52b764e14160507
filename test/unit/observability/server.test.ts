import assert from "node:assert/strict";
import { startProbeServer, type ProbeServer } from "../../../src/observability/server.js";
import { workqueueRetries } from "../../../src/observability/metrics.js";

describe("probe server", () => {
  let server: ProbeServer | undefined;
  let ready = false;
  beforeEach(
    async () => (server = await startProbeServer({ host: "127.0.0.1", port: 0, ready: () => ready })),
  );
  afterEach(() => server?.close());

  const get = (path: string) => fetch(`http://127.0.0.1:${server!.port}${path}`);

  it("is healthy while the process runs, and ready only when it says so", async () => {
    assert.equal((await get("/healthz")).status, 200);
    ready = false;
    assert.equal((await get("/readyz")).status, 503);
    ready = true;
    assert.equal((await get("/readyz")).status, 200);
    assert.equal((await get("/nothing")).status, 404);
  });

  it("serves Skiff's metrics in Prometheus text format", async () => {
    workqueueRetries.inc({ name: "probe-test" });
    const res = await get("/metrics");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0.0.4/);
    const text = await res.text();
    assert.match(text, /^skiff_workqueue_retries_total\{name="probe-test"\} 1$/m);
    assert.match(text, /^# TYPE skiff_reconcile_duration_seconds histogram$/m);
    assert.match(text, /^process_cpu_user_seconds_total /m);
  });
});
