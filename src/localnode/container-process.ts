import { spawn, type ChildProcess } from "node:child_process";
import { openSync, closeSync, writeFileSync } from "node:fs";
import { constants } from "node:os";
import type { Readable } from "node:stream";
import { inNetnsCommand } from "./netns.js";

/** A bind mount into a container's private view of the node's filesystem. */
export interface ContainerMount {
  source: string;
  target: string;
  readOnly: boolean;
  /** The source is a file (a subPath to a file), so the target is created as a file. */
  file: boolean;
}

/** How one run of a container is started. */
export interface ContainerLaunch {
  /** The Pod's named network namespace. */
  netns: string;
  hostname: string;
  argv: string[];
  env: Map<string, string>;
  uid: number;
  gid: number;
  workingDir: string;
  mounts: ContainerMount[];
  /** The Pod's resolv.conf and hosts files, bound over /etc's. */
  resolvConf: string;
  hosts: string;
  /** Where the launcher script is written. */
  scriptPath: string;
  logPath: string;
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * The shell script that builds the container's view inside fresh mount and
 * UTS namespaces (so nothing it mounts is seen outside): its volumes, a
 * private /dev/shm (Envoy's hot-restart memory would otherwise collide
 * between Pods), the Pod's resolv.conf and hosts, its hostname; then it
 * becomes the container's user and execs the program. Pure.
 */
export function launcherScript(launch: ContainerLaunch): string {
  const lines = ["set -e", "mount -t tmpfs -o size=64m,mode=1777 tmpfs /dev/shm"];
  for (const m of launch.mounts) {
    const target = quote(m.target);
    lines.push(
      m.file ? `mkdir -p "$(dirname ${target})"; [ -e ${target} ] || touch ${target}` : `mkdir -p ${target}`,
      `mount --bind ${quote(m.source)} ${target}`,
    );
    if (m.readOnly) lines.push(`mount -o remount,bind,ro ${target}`);
  }
  lines.push(
    `mount --bind ${quote(launch.resolvConf)} /etc/resolv.conf`,
    `mount --bind ${quote(launch.hosts)} /etc/hosts`,
    `hostname ${quote(launch.hostname)}`,
    `cd ${quote(launch.workingDir)}`,
    // The container's view is complete: tell the node (fd 3) and close it, so
    // the program never holds it and "running" is never reported too early.
    `echo started >&3`,
    `exec 3>&-`,
    // Changing the user clears the parent-death signal, so it is asked for again.
    `exec setpriv --pdeathsig KILL --reuid ${launch.uid} --regid ${launch.gid} --clear-groups -- "$@"`,
  );
  return lines.join("\n") + "\n";
}

/** One running instance of a container: a process group the node started. */
export class ContainerProcess {
  private readonly child: ChildProcess;
  readonly startedAt = new Date();
  /** Resolves with the exit code (128 + signal number for a signal), once. */
  readonly exited: Promise<number>;
  /**
   * Resolves true once the launcher has built the container's mounts and is
   * about to exec the program (a kubelet's "container started"), false if it
   * exited first. Until then the process is not yet the container: entering
   * its mount namespace would show the node's view.
   */
  readonly started: Promise<boolean>;
  private hasStarted = false;

  constructor(launch: ContainerLaunch) {
    writeFileSync(launch.scriptPath, launcherScript(launch), { mode: 0o700 });
    const log = openSync(launch.logPath, "a");
    try {
      this.child = spawn(
        ...inNetnsCommand(launch.netns, [
          ...["unshare", "--mount", "--uts", "--propagation", "private", "--"],
          ...["/bin/sh", launch.scriptPath, ...launch.argv],
        ]),
        // Its own process group, so stop() reaches everything it forks.
        {
          env: Object.fromEntries(launch.env),
          stdio: ["ignore", log, log, "pipe"],
          detached: true,
        },
      );
    } finally {
      closeSync(log);
    }
    const startPipe = this.child.stdio[3] as Readable;
    this.started = new Promise((resolve) => {
      startPipe.once("data", () => resolve((this.hasStarted = true)));
      startPipe.once("close", () => resolve(this.hasStarted));
      startPipe.once("error", () => resolve(this.hasStarted));
    });
    this.exited = new Promise((resolve) => {
      this.child.once("exit", (code, signal) =>
        resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0)),
      );
      this.child.once("error", () => resolve(128));
    });
  }

  /** The process's pid, whose namespaces are the container's once {@link started}. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The pid once the container has started (its mounts in place), else undefined. */
  get startedPid(): number | undefined {
    return this.hasStarted ? this.child.pid : undefined;
  }

  /** SIGTERM to the process group, SIGKILL after `graceMs`; resolves with the exit code. */
  async stop(graceMs: number): Promise<number> {
    this.signal("SIGTERM");
    const timer = setTimeout(() => this.signal("SIGKILL"), graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    this.signal("SIGKILL"); // anything the program left behind in its group
    return code;
  }

  private signal(signal: NodeJS.Signals): void {
    if (this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, signal);
    } catch {
      // already gone
    }
  }
}
