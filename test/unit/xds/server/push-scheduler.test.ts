import assert from "node:assert/strict";
import { setImmediate as nextTurn } from "node:timers/promises";
import { PushScheduler, type Pushable } from "../../../../src/xds/server/push-scheduler.js";

/** A clock that only moves when a push says it took time. */
class Clock {
  ms = 0;
  readonly now = () => this.ms;
}

/** A stream whose push takes `costMs` on the clock and records the turn it ran in. */
class Stream implements Pushable {
  readonly turns: number[] = [];
  constructor(
    private readonly clock: Clock,
    private readonly turn: () => number,
    private readonly costMs = 2,
  ) {}
  push(): void {
    this.turns.push(this.turn());
    this.clock.ms += this.costMs;
  }
}

/** Counts turns of the event loop (each a setImmediate), until stopped. */
function turnCounter(): { readonly turn: () => number; stop(): void } {
  let turn = 0;
  let stopped = false;
  const tick = () => {
    if (stopped) return;
    turn++;
    setImmediate(tick);
  };
  setImmediate(tick);
  return { turn: () => turn, stop: () => (stopped = true) };
}

async function drained(scheduler: PushScheduler): Promise<void> {
  for (let i = 0; i < 10_000 && scheduler.waiting > 0; i++) await nextTurn();
  // The turn that pushed the last stream has run; one more lets it see nothing is left.
  await nextTurn();
  assert.equal(scheduler.waiting, 0);
}

describe("ADS push scheduler", () => {
  it("never pushes inside schedule(), and spreads a fan-out over turns of at most a slice each", async () => {
    const clock = new Clock();
    const counter = turnCounter();
    const scheduler = new PushScheduler(5, clock.now);
    const streams = Array.from({ length: 20 }, () => new Stream(clock, counter.turn));
    scheduler.schedule(streams);
    assert.ok(
      streams.every((s) => s.turns.length === 0),
      "nothing is pushed in the caller's turn",
    );
    await drained(scheduler);
    counter.stop();
    // Each push takes 2 ms and a slice 5: three pushes a turn (the third crosses the deadline).
    assert.ok(streams.every((s) => s.turns.length === 1));
    const perTurn = new Map<number, number>();
    for (const s of streams) perTurn.set(s.turns[0]!, (perTurn.get(s.turns[0]!) ?? 0) + 1);
    assert.deepEqual([...perTurn.values()], [3, 3, 3, 3, 3, 3, 2]);
    // In the order they were scheduled.
    const order = streams.map((s) => s.turns[0]!);
    assert.deepEqual(
      order,
      [...order].sort((a, b) => a - b),
    );
  });

  it("lets other work of the event loop run between slices", async () => {
    const clock = new Clock();
    const scheduler = new PushScheduler(5, clock.now);
    const events: string[] = [];
    const streams = Array.from({ length: 6 }, (_, i) => ({
      push: () => {
        events.push(`push ${i}`);
        clock.ms += 3;
      },
    }));
    scheduler.schedule(streams);
    // Queued after the scheduler's first turn: it runs before the second slice, as a keepalive would.
    setImmediate(() => events.push("other"));
    await drained(scheduler);
    assert.deepEqual(events, ["push 0", "push 1", "other", "push 2", "push 3", "push 4", "push 5"]);
  });

  it("pushes a stream that several generations find waiting once, and one already pushed again", async () => {
    const clock = new Clock();
    const counter = turnCounter();
    const scheduler = new PushScheduler(5, clock.now);
    const streams = Array.from({ length: 9 }, () => new Stream(clock, counter.turn));
    scheduler.schedule(streams); // generation 2
    scheduler.schedule(streams); // generation 3, same turn
    await nextTurn(); // the first slice: streams 0-2 pushed
    assert.deepEqual(
      streams.map((s) => s.turns.length),
      [1, 1, 1, 0, 0, 0, 0, 0, 0],
    );
    scheduler.schedule(streams); // generation 4: 3-8 are still waiting, 0-2 are due again, behind them
    scheduler.schedule(streams); // generation 5
    await drained(scheduler);
    counter.stop();
    assert.deepEqual(
      streams.map((s) => s.turns.length),
      [2, 2, 2, 1, 1, 1, 1, 1, 1],
    );
    const lastTurns = streams.map((s) => s.turns.at(-1)!);
    assert.ok(lastTurns.slice(0, 3).every((t) => t >= Math.max(...lastTurns.slice(3))));
  });

  it("does not push a stream it was told to forget, and takes new work after draining", async () => {
    const clock = new Clock();
    const counter = turnCounter();
    const scheduler = new PushScheduler(5, clock.now);
    const [a, b] = [new Stream(clock, counter.turn), new Stream(clock, counter.turn)];
    scheduler.schedule([a, b]);
    scheduler.forget(a);
    await drained(scheduler);
    scheduler.schedule([a]);
    await drained(scheduler);
    counter.stop();
    assert.equal(a.turns.length, 1);
    assert.equal(b.turns.length, 1);
  });

  it("pushes at least one stream a turn, however long it takes", async () => {
    const clock = new Clock();
    const counter = turnCounter();
    const scheduler = new PushScheduler(5, clock.now);
    const slow = Array.from({ length: 3 }, () => new Stream(clock, counter.turn, 50));
    scheduler.schedule(slow);
    await drained(scheduler);
    counter.stop();
    const turns = slow.map((s) => s.turns[0]!);
    assert.equal(new Set(turns).size, 3, "one a turn");
  });
});
