import { join } from "node:path";
import { mkdir } from "node:fs/promises";
import { ManagedProcess, waitUntil } from "./process.js";
import { freePort } from "./ports.js";

export interface RunningEtcd {
  clientUrl: string;
  process: ManagedProcess;
}

/** Starts a single-member etcd on loopback with its data in `dir`. */
export async function startEtcd(binary: string, dir: string, timeoutMs: number): Promise<RunningEtcd> {
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  await mkdir(join(dir, "data"), { recursive: true, mode: 0o700 });
  const process = new ManagedProcess(
    "etcd",
    binary,
    [
      `--data-dir=${join(dir, "data")}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=default=${peerUrl}`,
      // A throwaway store: durability costs time and buys nothing here.
      "--unsafe-no-fsync=true",
      "--log-level=warn",
    ],
    join(dir, "etcd.log"),
  );
  await waitUntil(
    process,
    "healthy",
    async () => {
      const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(2000) });
      return res.ok && ((await res.json()) as { health?: string }).health === "true";
    },
    timeoutMs,
  );
  return { clientUrl, process };
}
