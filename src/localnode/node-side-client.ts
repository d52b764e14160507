import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import type { ProbeRequest, ProbeResult } from "./node-side.js";
import { inNetnsCommand } from "./netns.js";

/**
 * The host side of node-side.ts: starts it in the node's network namespace
 * and sends it probes. When this process dies, the helper's stdin closes
 * and it exits (and setpriv's parent-death signal covers a SIGKILL).
 */
export class NodeSide {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, (result: ProbeResult) => void>();
  private nextId = 1;
  private readonly ready: Promise<void>;

  constructor(
    netns: string,
    forwards: { host: string; port: number; socket: string }[],
    logLine: (line: string) => void,
  ) {
    const script = siblingScript("node-side");
    const nodeArgs = script.endsWith(".ts") ? ["--import", "tsx", script] : [script];
    const forwardArgs = forwards.flatMap((f) => ["--forward", `${f.host}:${f.port}=${f.socket}`]);
    this.child = spawn(...inNetnsCommand(netns, [process.execPath, ...nodeArgs, ...forwardArgs]), {
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.child.stderr?.on("data", (d: Buffer) => logLine(d.toString().trimEnd()));
    let markReady: () => void = () => {};
    let fail: (e: Error) => void = () => {};
    this.ready = new Promise((resolve, reject) => ((markReady = resolve), (fail = reject)));
    this.child.once("exit", (code) => {
      fail(new Error(`the node-side helper exited with ${code} before it was ready`));
      for (const resolve of this.pending.values())
        resolve({ id: 0, ok: false, detail: "node-side helper exited" });
      this.pending.clear();
    });
    createInterface({ input: this.child.stdout! }).on("line", (line) => {
      const message = JSON.parse(line) as ProbeResult | { ready: true };
      if ("ready" in message) return markReady();
      this.pending.get(message.id)?.(message);
      this.pending.delete(message.id);
    });
  }

  /** Resolves once every forwarder listens. */
  whenReady(): Promise<void> {
    return this.ready;
  }

  probe(request: Omit<ProbeRequest, "id">): Promise<ProbeResult> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      if (this.child.exitCode !== null) return resolve({ id, ok: false, detail: "node-side helper exited" });
      this.pending.set(id, resolve);
      this.child.stdin!.write(JSON.stringify({ ...request, id }) + "\n");
    });
  }

  stop(): void {
    this.child.stdin?.end();
    this.child.kill("SIGTERM");
  }
}

/** A module next to this one: the .ts source under tsx, the .js build otherwise. */
export function siblingScript(name: string): string {
  const self = fileURLToPath(import.meta.url);
  const extension = self.endsWith(".ts") ? ".ts" : ".js";
  const path = self.replace(/[^/]+\.(ts|js)$/, name + extension);
  if (!existsSync(path)) throw new Error(`cannot find ${path}`);
  return path;
}
