/**
 * Child processes of a benchmark: each runs under `setpriv --pdeathsig KILL`
 * (where setpriv exists), so that not even a SIGKILLed benchmark leaves a
 * server behind, and is read line by line.
 */
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const SETPRIV = ["/usr/bin/setpriv", "/bin/setpriv"].find((p) => existsSync(p));

type Proc = ChildProcessByStdio<Writable, Readable, Readable>;
const running = new Set<Proc>();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

export interface ChildOptions {
  env?: Record<string, string>;
  /** Which stream `line` and `json` read; the other keeps only its tail, for error messages. */
  linesFrom?: "stdout" | "stderr";
}

/** A child process under `setpriv --pdeathsig KILL`, read line by line. */
export class Child {
  readonly proc: Proc;
  readonly exited: Promise<number | null>;
  private readonly lines: string[] = [];
  private wake?: () => void;
  private stderr = "";
  private hasExited = false;
  /** How it ended: "code 1", "signal SIGKILL". */
  private ending = "";

  constructor(
    readonly name: string,
    command: string[],
    options: ChildOptions = {},
  ) {
    const [file, argv] = SETPRIV
      ? [SETPRIV, ["--pdeathsig", "KILL", "--", ...command]]
      : [command[0]!, command.slice(1)];
    this.proc = spawn(file, argv, {
      cwd: ROOT,
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, ...options.env },
    });
    running.add(this.proc);
    this.proc.stdin.on("error", () => {});
    const linesFrom = options.linesFrom ?? "stdout";
    createInterface({ input: this.proc[linesFrom] }).on("line", (line) => {
      this.lines.push(line);
      this.wake?.();
    });
    if (linesFrom === "stdout")
      this.proc.stderr.on("data", (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-8000)));
    else this.proc.stdout.resume();
    this.exited = new Promise((resolve) =>
      this.proc.on("exit", (code, signal) => {
        running.delete(this.proc);
        this.hasExited = true;
        this.ending = signal ? `signal ${signal}` : `code ${code}`;
        this.wake?.();
        resolve(code ?? (signal ? -1 : null));
      }),
    );
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** The next line that `accept` takes (earlier lines are dropped). */
  async line(accept: (line: string) => boolean, what: string, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.lines.findIndex(accept);
      if (index >= 0) return this.lines.splice(0, index + 1)[index]!;
      if (this.hasExited)
        throw new Error(`${this.name} exited (${this.ending}) before ${what}; ${this.tail()}`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`${this.name}: no ${what} after ${timeoutMs} ms; ${this.tail()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  async json(what: string, timeoutMs: number): Promise<Record<string, number | string>> {
    return JSON.parse(await this.line((l) => l.startsWith("{"), what, timeoutMs)) as Record<
      string,
      number | string
    >;
  }

  send(line: string): void {
    this.proc.stdin.write(`${line}\n`);
  }

  /** SIGTERM (or the given signal), SIGKILL after graceMs; resolves once it has exited. */
  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 10_000): Promise<void> {
    if (this.hasExited) return;
    this.proc.kill(signal);
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** What the child last wrote on the stream that is not read line by line, or its last lines. */
  private tail(): string {
    return this.stderr ? `stderr:\n${this.stderr}` : `last lines:\n${this.lines.slice(-20).join("\n")}`;
  }
}
