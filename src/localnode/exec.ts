import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { NETNS_DIR } from "./netns.js";

/** The named network namespace of the Pod with this UID on a local node of this machine. */
export function podNetworkNamespace(uid: string): string | undefined {
  if (!existsSync(NETNS_DIR)) return undefined;
  return readdirSync(NETNS_DIR).find((name) => name.startsWith("skiff-") && name.endsWith(`-${uid}`));
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The argv that runs `command` in a Pod's network namespace (with the Pod's
 * resolv.conf and hosts, which `ip netns exec` binds over /etc) as `uid`.
 * A command run as the sidecar's uid is not captured by iptables, as the
 * sidecar's own traffic is not.
 */
export function podExecArgv(netns: string, command: string[], uid = 0): string[] {
  return [
    "ip",
    "netns",
    "exec",
    netns,
    "setpriv",
    "--reuid",
    String(uid),
    "--regid",
    String(uid),
    "--clear-groups",
    "--",
    ...command,
  ];
}

/** Runs a command in a Pod's network namespace and collects its output. */
export function execInPod(
  netns: string,
  command: string[],
  options: { uid?: number; timeoutMs?: number } = {},
): Promise<ExecResult> {
  const [file, ...args] = podExecArgv(netns, command, options.uid);
  return new Promise((resolve, reject) => {
    const child = spawn(file!, args, {
      stdio: ["ignore", "pipe", "pipe"],
      timeout: options.timeoutMs ?? 60_000,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("error", reject);
    child.once("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
}
