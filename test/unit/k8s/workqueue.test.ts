import assert from "node:assert/strict";
import { TerminalError, WorkQueue, type HandlerResult } from "../../../src/k8s/workqueue.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves when `predicate` holds, polling every millisecond (fails after 2 s). */
async function until(predicate: () => boolean): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error("condition not reached");
    await sleep(1);
  }
}

describe("work queue", () => {
  let queue: WorkQueue | undefined;
  afterEach(() => queue?.shutdown());

  it("processes a key added many times before a worker takes it once", async () => {
    const seen: string[] = [];
    queue = new WorkQueue("test", async (key) => {
      seen.push(key);
    });
    for (let i = 0; i < 5; i++) queue.add("a");
    queue.add("b");
    queue.start();
    await until(() => seen.length === 2);
    await sleep(20);
    assert.deepEqual(seen, ["a", "b"]);
  });

  it("never processes one key in two workers at once, and reprocesses a key added while in flight", async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let runs = 0;
    let release!: () => void;
    const firstRunBlocked = new Promise<void>((r) => (release = r));
    queue = new WorkQueue(
      "test",
      async () => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        runs++;
        if (runs === 1) await firstRunBlocked;
        inFlight--;
      },
      { concurrency: 4 },
    );
    queue.start();
    queue.add("a");
    await until(() => runs === 1);
    queue.add("a"); // changed again while the first run is in flight
    queue.add("a");
    await sleep(20);
    assert.equal(runs, 1, "a second worker must not take the key while it is in flight");
    release();
    await until(() => runs === 2);
    await sleep(20);
    assert.equal(runs, 2);
    assert.equal(maxInFlight, 1);
  });

  it("processes distinct keys in parallel, up to the concurrency", async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let done = 0;
    queue = new WorkQueue(
      "test",
      async () => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await sleep(20);
        inFlight--;
        done++;
      },
      { concurrency: 3 },
    );
    for (const key of ["a", "b", "c", "d", "e", "f"]) queue.add(key);
    queue.start();
    await until(() => done === 6);
    assert.equal(maxInFlight, 3);
  });

  it("retries a failing key with exponential backoff, then resets it after success", async () => {
    const delays: number[] = [];
    let attempts = 0;
    queue = new WorkQueue(
      "test",
      async () => {
        attempts++;
        if (attempts <= 3 || attempts === 5) throw new Error("the API server said no");
      },
      { random: () => 0.5, onRetry: (_key, delay) => delays.push(delay) },
    );
    queue.start();
    queue.add("a");
    await until(() => attempts === 4);
    assert.deepEqual(delays, [5, 10, 20]);
    queue.add("a"); // fails once more: the backoff starts again from 5 ms
    await until(() => delays.length === 4);
    assert.equal(delays[3], 5);
  });

  it("reports every error, and does not retry a terminal one", async () => {
    const errors: [string, boolean][] = [];
    let attempts = 0;
    queue = new WorkQueue(
      "test",
      async () => {
        attempts++;
        throw new TerminalError("spec.targetRef: no such Service");
      },
      { onError: (key, _error, terminal) => errors.push([key, terminal]) },
    );
    queue.start();
    queue.add("ns/policy");
    await until(() => attempts === 1);
    await sleep(50);
    assert.equal(attempts, 1);
    assert.deepEqual(errors, [["ns/policy", true]]);
  });

  it("runs a key again when the handler asks for a requeue", async () => {
    const times: number[] = [];
    queue = new WorkQueue("test", async (): Promise<HandlerResult> => {
      times.push(Date.now());
      return times.length < 2 ? { requeueAfterMs: 30 } : undefined;
    });
    queue.start();
    queue.add("a");
    await until(() => times.length === 2);
    assert.ok(times[1]! - times[0]! >= 25, `requeued after ${times[1]! - times[0]!} ms`);
  });

  it("keeps the earlier of two delayed adds", async () => {
    const times: number[] = [];
    const start = Date.now();
    queue = new WorkQueue("test", async () => {
      times.push(Date.now() - start);
    });
    queue.start();
    queue.addAfter("a", 500);
    queue.addAfter("a", 20);
    await until(() => times.length === 1);
    assert.ok(times[0]! < 400, `ran after ${times[0]} ms`);
  });

  it("drains on shutdown: the key in flight finishes, nothing new starts", async () => {
    let finished = 0;
    let started = 0;
    const q = new WorkQueue("test", async () => {
      started++;
      await sleep(30);
      finished++;
    });
    q.start();
    q.add("a");
    q.addAfter("b", 10);
    await until(() => started === 1);
    await q.shutdown();
    assert.equal(finished, 1, "shutdown waited for the key in flight");
    q.add("c");
    await sleep(40);
    assert.equal(started, 1, "no key starts after shutdown");
  });
});
