import { execFile } from "node:child_process";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Where `ip netns` keeps its named namespaces (so `ip netns exec NAME` can enter them). */
export const NETNS_DIR = "/run/netns";

/**
 * A command line that runs `argv` in a named network namespace, killed by
 * the kernel if its parent (this process) dies (setpriv --pdeathsig), so no
 * crash of ours leaves it running.
 */
export function inNetnsCommand(netns: string, argv: readonly string[]): [string, string[]] {
  return ["setpriv", ["--pdeathsig", "KILL", "--", "nsenter", `--net=${NETNS_DIR}/${netns}`, "--", ...argv]];
}

/** Files `ip netns exec NAME` binds over /etc (resolv.conf, hosts) for the commands it runs. */
export function netnsEtc(name: string): string {
  return `/etc/netns/${name}`;
}

/** Runs `ip` with arguments; throws with ip's own error text. */
export async function ip(...args: string[]): Promise<string> {
  try {
    const { stdout } = await run("ip", args, { timeout: 30_000 });
    return stdout;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`ip ${args.join(" ")}: ${stderr || String(error)}`);
  }
}

/** Writes sysctls inside a named network namespace (net.* sysctls are per namespace). */
export async function netnsSysctl(netns: string, settings: Record<string, string>): Promise<void> {
  const args = Object.entries(settings).map(([k, v]) => `${k}=${v}`);
  await run("ip", ["netns", "exec", netns, "sysctl", "-q", "-w", ...args], { timeout: 30_000 });
}

/**
 * The node's own network namespace: a bridge holding the node's address (the
 * Pods' gateway), forwarding on, and bridged traffic passed through iptables
 * so kube-proxy's rules see Pod-to-Pod traffic in both directions.
 * Everything the local node does to the network happens in namespaces it
 * made, never in the machine's own.
 */
export async function createNodeNamespace(name: string, bridge: string, gatewayCidr: string): Promise<void> {
  await ip("netns", "add", name);
  await ip("-n", name, "link", "set", "lo", "up");
  await ip("-n", name, "link", "add", bridge, "type", "bridge");
  await ip("-n", name, "addr", "add", gatewayCidr, "dev", bridge);
  await ip("-n", name, "link", "set", bridge, "up");
  await netnsSysctl(name, { "net.ipv4.ip_forward": "1" });
  // br_netfilter's switches are per namespace; without the module there is
  // no such file, and kube-proxy then says so in its log.
  if (existsSync("/proc/sys/net/bridge/bridge-nf-call-iptables"))
    await netnsSysctl(name, { "net.bridge.bridge-nf-call-iptables": "1" });
}

/**
 * A Pod's sandbox: its own network namespace with loopback and `eth0`, a
 * veth whose other end sits on the node's bridge (hairpin on, so a Pod can
 * reach itself through its Service), and a default route via the gateway.
 */
export async function createPodNamespace(options: {
  nodeNamespace: string;
  bridge: string;
  podNamespace: string;
  hostVeth: string;
  podIp: string;
  prefixLength: number;
  gateway: string;
}): Promise<void> {
  const { nodeNamespace: node, podNamespace: pod, hostVeth } = options;
  await ip("netns", "add", pod);
  await ip("-n", node, "link", "add", hostVeth, "type", "veth", "peer", "name", "eth0", "netns", pod);
  await ip("-n", node, "link", "set", hostVeth, "master", options.bridge);
  await ip("-n", node, "link", "set", hostVeth, "type", "bridge_slave", "hairpin", "on");
  await ip("-n", node, "link", "set", hostVeth, "up");
  await ip("-n", pod, "link", "set", "lo", "up");
  await ip("-n", pod, "addr", "add", `${options.podIp}/${options.prefixLength}`, "dev", "eth0");
  await ip("-n", pod, "link", "set", "eth0", "up");
  await ip("-n", pod, "route", "add", "default", "via", options.gateway);
}

/** Deletes a named namespace (and with it every interface inside); a missing one is fine. */
export async function deleteNamespace(name: string): Promise<void> {
  rmSync(netnsEtc(name), { recursive: true, force: true });
  if (!existsSync(`${NETNS_DIR}/${name}`)) return;
  await ip("netns", "delete", name);
}

/** Named namespaces whose names start with `prefix`. */
export function namespacesWithPrefix(prefix: string): string[] {
  if (!existsSync(NETNS_DIR)) return [];
  return readdirSync(NETNS_DIR).filter((n) => n.startsWith(prefix));
}
