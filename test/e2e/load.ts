/**
 * fortio load from inside a Pod: its requests or connections go through the
 * Pod's sidecar, as its application's would. Run to completion, or in the
 * background while the test changes something; either way the result is
 * fortio's JSON.
 */
import assert from "node:assert/strict";
import { fortioBinary } from "../../src/localnode/tools.js";
import { exec, spawnInPod } from "./kit.js";

/** What the tests read of fortio's JSON result (`fortio load -json -`). */
export interface FortioResult {
  /** Calls per outcome: the HTTP status ("200"), "OK" for TCP and UDP, the health status ("SERVING") of gRPC pings. */
  RetCodes: Record<string, number>;
  /** Every call counted (fortio's warm-up calls are not). */
  DurationHistogram: { Count: number };
  /** The calls that failed, when any did. */
  ErrorsDurationHistogram?: { Count: number };
  /** TCP and UDP: bytes sent, and bytes the echo sent back. */
  BytesSent?: number;
  BytesReceived?: number;
}

let binary: Promise<string> | undefined;

/** The fortio binary, which the local node also runs for the fortio image (so it is there; never built here). */
function fortio(): Promise<string> {
  binary ??= fortioBinary({ build: false });
  return binary;
}

/** fortio's result, or a failure with the end of its stderr: it exits non-zero only when it aborts. */
function result(what: string, code: number, stdout: string, stderr: string): FortioResult {
  assert.equal(code, 0, `${what} exited ${code}: ${stderr.slice(-2000)}`);
  return JSON.parse(stdout) as FortioResult;
}

/**
 * Runs `fortio load -json - <args>` in a Pod until it ends (bound it with -n
 * or -t), and returns its result.
 */
export async function fortioLoad(
  namespace: string,
  pod: string,
  args: string[],
  options: { timeoutMs?: number } = {},
): Promise<FortioResult> {
  const run = await exec(namespace, pod, [await fortio(), "load", "-json", "-", ...args], {
    timeoutMs: options.timeoutMs ?? 60_000,
  });
  return result(`fortio load ${args.join(" ")} in ${namespace}/${pod}`, run.code, run.stdout, run.stderr);
}

/** A fortio load running in a Pod in the background. */
export interface BackgroundLoad {
  /** Interrupts the load (fortio prints its result on SIGINT) and returns its result. */
  stop(): Promise<FortioResult>;
  /** Waits for a load bounded by -n or -t to end by itself, and returns its result. */
  finished(options?: { timeoutMs?: number }): Promise<FortioResult>;
}

/**
 * Starts `fortio load -json - <args>` in a Pod and returns while it runs.
 * Stop it or wait for it; give it -t as well, to bound a run whose end never
 * comes (a test that failed before it).
 */
export async function startFortioLoad(
  namespace: string,
  pod: string,
  args: string[],
): Promise<BackgroundLoad> {
  const what = `fortio load ${args.join(" ")} in ${namespace}/${pod}`;
  const child = await spawnInPod(namespace, pod, [await fortio(), "load", "-json", "-", ...args]);
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  // "close", not "exit": the JSON may still be in the pipe when the process exits.
  const closed = new Promise<number>((resolve) => child.once("close", (code) => resolve(code ?? 128)));
  const ended = async (timeoutMs: number) => {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`${what} did not end within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    try {
      return result(what, await Promise.race([closed, timedOut]), stdout, stderr);
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    stop: () => {
      if (child.exitCode === null) child.kill("SIGINT");
      return ended(30_000);
    },
    finished: (options = {}) => ended(options.timeoutMs ?? 120_000),
  };
}
