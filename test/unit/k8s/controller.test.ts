import assert from "node:assert/strict";
import { pino } from "pino";
import { Writable } from "node:stream";
import { Controller, type ReconcileRequest } from "../../../src/k8s/controller.js";
import { TerminalError } from "../../../src/k8s/workqueue.js";
import { registry } from "../../../src/observability/metrics.js";

/** A pino logger whose lines land in an array. */
function capturingLogger(lines: Record<string, unknown>[]) {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  return pino({ level: "debug" }, sink);
}

async function metricValue(name: string, labels: Record<string, string>): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const value = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return Number(value?.value ?? 0);
}

describe("controller", () => {
  let controller: Controller | undefined;
  afterEach(() => controller?.shutdown());

  it("hands the reconciler the key split into namespace and name, with a fresh reconcileID", async () => {
    const requests: ReconcileRequest[] = [];
    const lines: Record<string, unknown>[] = [];
    controller = new Controller(
      "test-split",
      async (request) => {
        requests.push(request);
        request.log.info("reconciling");
      },
      { logger: capturingLogger(lines) },
    );
    controller.start();
    controller.enqueue("bookinfo/reviews");
    controller.enqueueObject({ metadata: { name: "default" } });
    while (requests.length < 2) await new Promise((r) => setTimeout(r, 1));
    assert.deepEqual(
      requests.map((r) => [r.namespace, r.name]),
      [
        ["bookinfo", "reviews"],
        [undefined, "default"],
      ],
    );
    assert.notEqual(requests[0]!.reconcileID, requests[1]!.reconcileID);
    assert.deepEqual(
      { controller: lines[0]!.controller, object: lines[0]!.object, reconcileID: lines[0]!.reconcileID },
      { controller: "test-split", object: "bookinfo/reviews", reconcileID: requests[0]!.reconcileID },
    );
  });

  it("counts results and errors, and logs every failure", async () => {
    const lines: Record<string, unknown>[] = [];
    let calls = 0;
    controller = new Controller(
      "test-metrics",
      async () => {
        calls++;
        if (calls === 1) throw new Error("conflict");
        if (calls === 2) return;
        throw new TerminalError("spec is invalid");
      },
      { logger: capturingLogger(lines) },
    );
    controller.start();
    controller.enqueue("a");
    while (calls < 2) await new Promise((r) => setTimeout(r, 1));
    controller.enqueue("a");
    while (calls < 3) await new Promise((r) => setTimeout(r, 1));
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(
      await metricValue("skiff_reconcile_total", { controller: "test-metrics", result: "success" }),
      1,
    );
    assert.equal(
      await metricValue("skiff_reconcile_total", { controller: "test-metrics", result: "error" }),
      1,
    );
    assert.equal(
      await metricValue("skiff_reconcile_total", { controller: "test-metrics", result: "terminal" }),
      1,
    );
    assert.equal(await metricValue("skiff_reconcile_errors_total", { controller: "test-metrics" }), 2);
    const errors = lines.filter((l) => l.level === 50);
    assert.deepEqual(
      errors.map((l) => [l.msg, l.terminal]),
      [
        ["reconcile failed; retrying with backoff", false],
        ["reconcile failed; not retrying", true],
      ],
    );
  });
});
