/**
 * A client that keeps its connections: a small Node.js program in a Pod's
 * network namespace (as the application's user, so its traffic leaves through
 * the Pod's sidecar) that holds one HTTP/1.1 keep-alive connection and one
 * TCP connection open while the test changes the mesh, and sends on them when
 * told. curl cannot do that: it ends with its last request. It also makes
 * one-shot TCP exchanges, for tables of many.
 *
 * The test writes one JSON command a line on the program's stdin; the program
 * answers each with one JSON line naming the command's id.
 */
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import { podExecArgv } from "../../src/localnode/exec.js";
import { podNetns } from "./kit.js";

/** What a TCP exchange came to: an answer (the echo, or any bytes), or the connection ended (or was refused) first. */
export type TcpOutcome = "answered" | "closed";

/** One HTTP answer on the held connection, and whether the client sent it on a connection it had used before. */
export interface HeldHttpAnswer {
  status: number;
  reusedConnection: boolean;
}

/**
 * What each TCP exchange sends: a whole HTTP/1.0 request, so that an HTTP
 * server answers it and closes gracefully (a half-line makes Go's server
 * reset the connection, which can discard its answer), and an echo server
 * echoes it.
 */
const PROBE = "GET / HTTP/1.0\r\n\r\n";

const PROGRAM = String.raw`
const http = require("node:http");
const net = require("node:net");
const readline = require("node:readline");
// One socket, kept alive: every request goes on the same connection while it lives.
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let held;
const say = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const exchange = (c, socket) => {
  let done = false;
  const end = (outcome) => { if (!done) { done = true; say({ id: c.id, outcome }); } };
  socket.setTimeout(c.timeoutMs, () => { end("closed"); socket.destroy(); });
  socket.once("data", () => { end("answered"); });
  socket.once("close", () => end("closed"));
  socket.once("error", () => end("closed"));
  return end;
};
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const c = JSON.parse(line);
  if (c.op === "http") {
    const req = http.request(c.url, { agent, method: c.method, headers: c.headers }, (res) => {
      res.resume();
      res.on("end", () => say({ id: c.id, status: res.statusCode, reused: req.reusedSocket }));
    });
    req.on("error", (e) => say({ id: c.id, status: 0, error: String(e) }));
    req.end();
  } else if (c.op === "tcp") {
    const socket = net.connect(c.port, c.host, () => socket.write(c.data));
    const end = exchange(c, socket);
    socket.once("data", () => { end("answered"); socket.destroy(); });
  } else if (c.op === "hold") {
    held = net.connect(c.port, c.host, () => held.write(c.data));
    let answered = false;
    held.once("data", () => { answered = true; say({ id: c.id, outcome: "answered" }); });
    held.once("close", () => { if (!answered) say({ id: c.id, outcome: "closed" }); });
    held.on("error", () => {});
  } else if (c.op === "send") {
    if (held.destroyed) { say({ id: c.id, outcome: "closed" }); return; }
    exchange(c, held);
    held.write(c.data);
  }
});
`;

export class HeldClient {
  private readonly waiting = new Map<number, (answer: Record<string, unknown>) => void>();
  private nextId = 0;

  private constructor(private readonly child: ChildProcessByStdio<Writable, Readable, Readable>) {
    createInterface({ input: child.stdout }).on("line", (line) => {
      const answer = JSON.parse(line) as Record<string, unknown>;
      const id = answer.id as number | undefined;
      if (id !== undefined) this.waiting.get(id)?.(answer);
    });
  }

  /** Starts the program in a Pod, as its application (uid 0, the fortio image's user). */
  static async start(namespace: string, pod: string): Promise<HeldClient> {
    const [file, ...args] = podExecArgv(await podNetns(namespace, pod), [process.execPath, "-e", PROGRAM]);
    return new HeldClient(spawn(file!, args, { stdio: ["pipe", "pipe", "pipe"] }));
  }

  /** A request on the held HTTP connection (opened by the first one). */
  async http(url: string, options: { method?: string; headers?: Record<string, string> } = {}) {
    const answer = await this.send({
      op: "http",
      url,
      method: options.method ?? "GET",
      headers: options.headers,
    });
    if (answer.error) throw new Error(`${url}: ${String(answer.error)}`);
    return { status: answer.status as number, reusedConnection: answer.reused as boolean } as HeldHttpAnswer;
  }

  /** A new TCP connection that sends one line and waits (up to `timeoutMs`) for its echo. */
  async tcp(host: string, port: number, timeoutMs = 5_000): Promise<TcpOutcome> {
    return (await this.send({ op: "tcp", host, port, data: PROBE, timeoutMs })).outcome as TcpOutcome;
  }

  /** Opens the held TCP connection, and waits for the echo of its first line. */
  async hold(host: string, port: number): Promise<TcpOutcome> {
    return (await this.send({ op: "hold", host, port, data: PROBE })).outcome as TcpOutcome;
  }

  /** Sends a line on the held TCP connection and waits (up to `timeoutMs`) for its echo. */
  async sendHeld(timeoutMs = 5_000): Promise<TcpOutcome> {
    return (await this.send({ op: "send", data: PROBE, timeoutMs })).outcome as TcpOutcome;
  }

  stop(): void {
    this.child.kill("SIGKILL");
  }

  private send(command: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to ${JSON.stringify(command)}`)), 30_000);
      this.waiting.set(id, (answer) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(answer);
      });
      this.child.stdin.write(`${JSON.stringify({ ...command, id })}\n`);
    });
  }
}
