import { spawn, type ChildProcessByStdio } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { inNetnsCommand } from "./netns.js";

/**
 * Runs inside the Pod's network namespace: connects to 127.0.0.1:<port>
 * there (as the real kubelet's runtime does) and pipes stdin and stdout
 * through (synchronous writes to pipes on Linux, so exiting when the socket
 * closes loses nothing); a failed connect is its stderr and exit status 1.
 */
const FORWARDER = `
const socket = require("node:net").connect(Number(process.argv[1]), "127.0.0.1");
socket.on("connect", () => { process.stdin.pipe(socket); socket.pipe(process.stdout); });
socket.on("error", (error) => { process.stderr.write(error.message); process.exitCode = 1; });
socket.on("close", () => process.exit());
`;

/** A TCP connection to a port on a Pod's loopback, through a process in its network namespace. */
export interface PodPortConnection {
  /** Bytes to the Pod's port. */
  write(data: Buffer): void;
  /** No more bytes to the Pod's port (a half-close: the Pod may still answer). */
  endInput(): void;
  /** Ends the connection (kills the forwarder). */
  close(): void;
}

/**
 * Connects to `port` on the loopback of the Pod whose network namespace is
 * `netns`. `onData` gets the Pod's bytes; `onClosed` is called once, with the
 * reason when the connection failed (nothing listening, say).
 */
export function connectToPodPort(
  netns: string,
  port: number,
  onData: (data: Buffer) => void,
  onClosed: (error?: string) => void,
): PodPortConnection {
  const [file, args] = inNetnsCommand(netns, [process.execPath, "-e", FORWARDER, String(port)]);
  const child: ChildProcessByStdio<Writable, Readable, Readable> = spawn(file, args, {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  let closed = false;
  child.stdout.on("data", onData);
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.on("error", () => {}); // the forwarder went away; its exit says why
  const finish = (error?: string) => {
    if (closed) return;
    closed = true;
    onClosed(error);
  };
  child.once("error", (error) => finish(error.message));
  child.once("close", (code) =>
    finish(code === 0 || code === null ? undefined : stderr.trim() || `exit ${code}`),
  );
  return {
    write: (data) => {
      if (!child.stdin.destroyed) child.stdin.write(data);
    },
    endInput: () => child.stdin.end(),
    close: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
}
