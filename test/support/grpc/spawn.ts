import { spawn, type ChildProcessByStdio } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import type { CallsResult, ClientSpec, UntilResult } from "./xds-client.js";
import type { CallerChannel, CallerRequest } from "./caller.js";

export type { CallsResult, ClientSpec, UntilResult } from "./xds-client.js";

/**
 * Test helpers that run the gRPC kit's programs as child processes:
 * `node --import tsx <script>` under `setpriv --pdeathsig KILL` (so the kernel
 * kills them if the test process dies, even by SIGKILL), with stdin as a pipe
 * (the programs exit when it closes), and killed on this process' exit.
 */
const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const BACKEND_SCRIPT = fileURLToPath(new URL("./backend.ts", import.meta.url));
const CLIENT_SCRIPT = fileURLToPath(new URL("./xds-client.ts", import.meta.url));
const SETPRIV = ["/usr/bin/setpriv", "/bin/setpriv"].find((p) => existsSync(p));

type Child = ChildProcessByStdio<Writable, Readable, Readable>;
const running = new Set<Child>();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

function spawnScript(
  script: string,
  args: string[],
  env?: Record<string, string>,
): { child: Child; exited: Promise<number | null> } {
  const command = [process.execPath, "--import", "tsx", script, ...args];
  const [file, argv] = SETPRIV
    ? [SETPRIV, ["--pdeathsig", "KILL", "--", ...command]]
    : [command[0]!, command.slice(1)];
  const child = spawn(file, argv, {
    cwd: REPO_ROOT,
    stdio: ["pipe", "pipe", "pipe"],
    env: env ? { ...process.env, ...env } : process.env,
  });
  running.add(child);
  // A child that exits before reading stdin must not crash us with EPIPE.
  child.stdin.on("error", () => {});
  const exited = new Promise<number | null>((resolve) => {
    child.on("exit", (code, signal) => {
      running.delete(child);
      resolve(code ?? (signal ? -1 : null));
    });
  });
  return { child, exited };
}

/** The last `max` characters of some output, for error messages. */
function tail(text: string, max = 4000): string {
  return text.length > max ? `...${text.slice(-max)}` : text;
}

async function terminate(child: Child, exited: Promise<unknown>, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

export interface BackendOptions {
  /** Listen address; `127.0.0.1:0` (a free port) by default. */
  address?: string;
  /** Share of calls answered with failCode, deterministically (see backend.ts). */
  failRatio?: number;
  /** grpc status name of the failures; UNAVAILABLE by default. */
  failCode?: string;
  delayMs?: number;
  /** How long the process may take to print LISTENING; 20 s by default. */
  startTimeoutMs?: number;
  /** An xDS-enabled server with this bootstrap file (see backend.ts --xds); `address` must then name a port. */
  xdsBootstrapFile?: string;
  /** Extra environment, e.g. `{GRPC_XDS_EXPERIMENTAL_RBAC: "true"}`. */
  env?: Record<string, string>;
}

export interface BackendHandle {
  readonly name: string;
  readonly port: number;
  /** `127.0.0.1:<port>`. */
  readonly address: string;
  readonly pid: number | undefined;
  /** Changes the behaviour of the running backend (and restarts its call count). */
  configure(update: { failRatio?: number; delayMs?: number; failCode?: string }): Promise<void>;
  /** SIGTERM, then SIGKILL after 3 s; resolves once it has exited. */
  stop(): Promise<void>;
}

/** Starts an Echo backend named `name`; resolves once it listens. */
export async function startBackend(name: string, options: BackendOptions = {}): Promise<BackendHandle> {
  const args = ["--name", name, "--address", options.address ?? "127.0.0.1:0"];
  if (options.failRatio !== undefined) args.push("--fail-ratio", String(options.failRatio));
  if (options.failCode !== undefined) args.push("--fail-code", options.failCode);
  if (options.delayMs !== undefined) args.push("--delay-ms", String(options.delayMs));
  if (options.xdsBootstrapFile !== undefined) args.push("--xds");
  const env = {
    ...options.env,
    ...(options.xdsBootstrapFile !== undefined ? { GRPC_XDS_BOOTSTRAP: options.xdsBootstrapFile } : {}),
  };
  const { child, exited } = spawnScript(BACKEND_SCRIPT, args, env);
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const lines: string[] = [];
  let lineWaiter: (() => void) | undefined;
  createInterface({ input: child.stdout }).on("line", (line) => {
    lines.push(line);
    lineWaiter?.();
  });
  let hasExited = false;
  void exited.then(() => {
    hasExited = true;
    lineWaiter?.();
  });
  /** The next stdout line that `accept` takes, or an error when the process exits or time runs out. */
  const nextLine = async (accept: (line: string) => boolean, what: string, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = lines.findIndex(accept);
      if (index >= 0) return lines.splice(0, index + 1)[index]!;
      if (hasExited) throw new Error(`backend ${name} exited before ${what}; stderr:\n${tail(stderr)}`);
      const remaining = deadline - Date.now();
      if (remaining <= 0)
        throw new Error(`backend ${name}: no ${what} after ${timeoutMs} ms; stderr:\n${tail(stderr)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        lineWaiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      lineWaiter = undefined;
    }
  };

  let port: number;
  try {
    const line = await nextLine(
      (l) => l.startsWith("LISTENING "),
      "LISTENING",
      options.startTimeoutMs ?? 20_000,
    );
    port = Number(line.slice("LISTENING ".length));
  } catch (e) {
    await terminate(child, exited, 1000);
    throw e;
  }
  let configuring = Promise.resolve();
  return {
    name,
    port,
    address: `127.0.0.1:${port}`,
    pid: child.pid,
    configure(update) {
      const step = configuring.then(async () => {
        child.stdin.write(`${JSON.stringify(update)}\n`);
        const reply = await nextLine(
          (l) => l === "CONFIGURED" || l.startsWith("ERROR "),
          "CONFIGURED",
          10_000,
        );
        if (reply !== "CONFIGURED") throw new Error(`backend ${name}: ${reply}`);
      });
      configuring = step.catch(() => {});
      return step;
    },
    stop: () => terminate(child, exited, 3000),
  };
}

export type ResultOf<S extends ClientSpec> = S extends { mode: "until" } ? UntilResult : CallsResult;

export interface ClientRun<S extends ClientSpec> {
  /** Resolves when the client has finished its warm-up (READY or NOT-READY on its stderr). */
  readonly ready: Promise<{ ready: boolean; ms: number }>;
  /** The client's JSON line; rejects, with its output, on a non-zero exit or the timeout. */
  readonly result: Promise<ResultOf<S>>;
  readonly pid: number | undefined;
  /** Kills the client (its result then rejects). */
  stop(): Promise<void>;
}

export interface ClientRunOptions {
  /**
   * How long the whole process may run before it is killed; by default
   * 30 s (start-up) + waitForReadyMs + timeoutMs (until) or
   * ceil(calls / concurrency) * deadlineMs (calls).
   */
  timeoutMs?: number;
  /** Extra environment, e.g. `{GRPC_TRACE: "xds_client,xds_resolver", GRPC_VERBOSITY: "DEBUG"}`. */
  env?: Record<string, string>;
}

function defaultTimeout(spec: ClientSpec): number {
  const work =
    spec.mode === "until"
      ? (spec.timeoutMs ?? 20_000)
      : Math.ceil((spec.calls ?? 100) / Math.max(1, spec.concurrency ?? 10)) * (spec.deadlineMs ?? 5000);
  return 30_000 + (spec.waitForReadyMs ?? 20_000) + Math.min(work, 600_000);
}

/** Starts the xDS client; see xds-client.ts for the spec and the result. */
export function startXdsClient<const S extends ClientSpec>(
  spec: S,
  options: ClientRunOptions = {},
): ClientRun<S> {
  const { child, exited } = spawnScript(CLIENT_SCRIPT, ["--spec", JSON.stringify(spec)], options.env);
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  let markReady: (r: { ready: boolean; ms: number }) => void = () => {};
  const ready = new Promise<{ ready: boolean; ms: number }>((resolve) => (markReady = resolve));
  createInterface({ input: child.stderr }).on("line", (line) => {
    stderr += `${line}\n`;
    const m = /^(READY|NOT-READY) (\d+)$/.exec(line);
    if (m) markReady({ ready: m[1] === "READY", ms: Number(m[2]) });
  });
  const timeoutMs = options.timeoutMs ?? defaultTimeout(spec);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, timeoutMs);
  const result = exited.then((code) => {
    clearTimeout(timer);
    const output = `stdout:\n${tail(stdout)}\nstderr:\n${tail(stderr)}`;
    if (timedOut) throw new Error(`xds-client killed after ${timeoutMs} ms\n${output}`);
    if (code !== 0) throw new Error(`xds-client exited with ${code}\n${output}`);
    const line = stdout.trim().split("\n").pop() ?? "";
    try {
      return JSON.parse(line) as ResultOf<S>;
    } catch {
      throw new Error(`xds-client printed no JSON result\n${output}`);
    }
  });
  // The caller may only await `result`; `ready` must not become an unhandled rejection.
  void result.catch(() => {}).finally(() => markReady({ ready: false, ms: -1 }));
  return { ready, result, pid: child.pid, stop: () => terminate(child, exited, 1000) };
}

/** Runs the xDS client to completion and returns its JSON result. */
export function runXdsClient<const S extends ClientSpec>(
  spec: S,
  options: ClientRunOptions = {},
): Promise<ResultOf<S>> {
  return startXdsClient(spec, options).result;
}

const CALLER_SCRIPT = fileURLToPath(new URL("./caller.ts", import.meta.url));

export interface CallerHandle {
  /** One call; resolves with `OK` or the gRPC status name. Calls run one at a time, in order. */
  call(request: Omit<CallerRequest, "id">): Promise<string>;
  /** Replaces every channel with a new one, on new connections. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts caller.ts with these channels; resolves once it is ready for calls. */
export async function startCaller(channels: Record<string, CallerChannel>): Promise<CallerHandle> {
  const { child, exited } = spawnScript(CALLER_SCRIPT, ["--channels", JSON.stringify(channels)]);
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const waiting = new Map<number, (outcome: string) => void>();
  let nextId = 1;
  let ready: () => void = () => {};
  const started = new Promise<void>((resolve) => (ready = resolve));
  createInterface({ input: child.stdout }).on("line", (line) => {
    if (line === "READY") return ready();
    const space = line.indexOf(" ");
    const id = Number(line.slice(0, space));
    waiting.get(id)?.(line.slice(space + 1));
    waiting.delete(id);
  });
  void exited.then(() => {
    const error = `caller exited; stderr:\n${tail(stderr)}`;
    for (const resolve of waiting.values()) resolve(error);
    waiting.clear();
    ready();
  });
  const send = (message: object) => {
    const id = nextId++;
    return new Promise<string>((resolve) => {
      waiting.set(id, resolve);
      child.stdin.write(`${JSON.stringify({ ...message, id })}\n`);
    });
  };
  await started;
  if (child.exitCode !== null) throw new Error(`caller exited at start; stderr:\n${tail(stderr)}`);
  return {
    call(request) {
      return send(request);
    },
    async reset() {
      const answer = await send({ reset: true });
      if (answer !== "RESET") throw new Error(`caller: ${answer}`);
    },
    stop: () => terminate(child, exited, 1000),
  };
}
