import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, readFileSync } from "node:fs";
import { once } from "node:events";

/** setpriv (util-linux) makes the kernel signal the child when we die, even by SIGKILL. */
const SETPRIV = ["/usr/bin/setpriv", "/bin/setpriv"].find((p) => existsSync(p));

const running = new Set<ManagedProcess>();

/**
 * A child process that never outlives us:
 * - it is started under `setpriv --pdeathsig KILL`, so the kernel kills it if
 *   this process dies for any reason, including SIGKILL;
 * - every live child is also killed synchronously on `exit`.
 * Its output goes to a log file, whose tail is quoted when it fails to start.
 */
export class ManagedProcess {
  private readonly child: ChildProcess;
  private exited = false;
  readonly exitPromise: Promise<number | null>;

  constructor(
    readonly name: string,
    command: string,
    args: string[],
    readonly logFile: string,
  ) {
    const [file, argv] = SETPRIV
      ? [SETPRIV, ["--pdeathsig", "KILL", "--", command, ...args]]
      : [command, args];
    const log = createWriteStream(logFile);
    this.child = spawn(file, argv, { stdio: ["ignore", "pipe", "pipe"] });
    this.child.stdout?.pipe(log);
    this.child.stderr?.pipe(log);
    if (process.env.KUBEBUILDER_ATTACH_CONTROL_PLANE_OUTPUT === "true") {
      this.child.stdout?.pipe(process.stderr);
      this.child.stderr?.pipe(process.stderr);
    }
    this.exitPromise = once(this.child, "exit").then(([code]) => {
      this.exited = true;
      running.delete(this);
      return code as number | null;
    });
    running.add(this);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get hasExited(): boolean {
    return this.exited;
  }

  /** The last lines the process wrote, for error messages. */
  logTail(lines = 20): string {
    try {
      return readFileSync(this.logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "(no output)";
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`. Resolves once the process is gone. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.exited) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await this.exitPromise;
    clearTimeout(timer);
  }

  killNow(): void {
    if (!this.exited) this.child.kill("SIGKILL");
  }
}

process.on("exit", () => {
  for (const p of running) p.killNow();
});

/**
 * Polls `probe` until it returns true. Fails early, with the log tail, when the
 * process exits first.
 */
export async function waitUntil(
  process: ManagedProcess,
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (process.hasExited) {
      throw new Error(`${process.name} exited before it was ${what}; its last output:\n${process.logTail()}`);
    }
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) {
      throw new Error(
        `${process.name} was not ${what} after ${timeoutMs / 1000}s; its last output:\n${process.logTail()}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
