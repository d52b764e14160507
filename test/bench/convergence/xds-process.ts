/**
 * The real `skiff xds` process (the built dist/, as deployed) against the
 * benchmark's API server: its ADS and HTTP ports, its /metrics, and a wait
 * for it to go quiet.
 */
import { get } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { xdsAllocatorEnv } from "../../../src/controllers/mesh/xds-allocator-env.js";
import { Child } from "../shared/child.js";
import { cpuSeconds } from "../shared/proc.js";
import { STATUS_NAMESPACE } from "./cluster.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

export interface XdsProcess {
  readonly child: Child;
  readonly adsAddress: string;
  readonly metricsUrl: string;
}

/** Starts `skiff xds`; with cpuProfileDir, V8 writes its CPU profile there when it exits. */
export async function startXds(
  kubeconfigPath: string,
  debounceMs: number | undefined,
  cpuProfileDir?: string,
): Promise<XdsProcess> {
  const child = new Child(
    "skiff xds",
    [
      process.execPath,
      ...(cpuProfileDir ? ["--cpu-prof", "--cpu-prof-dir", cpuProfileDir] : []),
      join(ROOT, "dist/src/cli/main.js"),
      "xds",
      "--kubeconfig",
      kubeconfigPath,
      "--address",
      "127.0.0.1:0",
      "--http-address",
      "127.0.0.1:0",
      // The simulated sidecars (xdsbench) dial plaintext and send no token; by default the server
      // serves TLS and refuses them, and B2/B5 measure the pipeline, not TLS or token review.
      "--insecure",
      ...(debounceMs === undefined ? [] : ["--debounce-ms", String(debounceMs)]),
    ],
    // It prints its ports only in its info-level log (on stderr); at info it logs nothing per push.
    // With the allocator settings of the xDS Deployment.
    {
      env: { SKIFF_LOG_LEVEL: "info", POD_NAMESPACE: STATUS_NAMESPACE, ...xdsAllocatorEnv() },
      linesFrom: "stderr",
    },
  );
  const line = await child.line((l) => l.includes('"xDS server running"'), "its ports", 300_000);
  const { port, httpPort } = JSON.parse(line) as { port: number; httpPort: number };
  return { child, adsAddress: `127.0.0.1:${port}`, metricsUrl: `http://127.0.0.1:${httpPort}/metrics` };
}

/** The samples of a Prometheus text exposition, by name with labels (`skiff_xds_pushes_total{type="eds"}`). */
export async function scrape(url: string): Promise<Map<string, number>> {
  const text = await new Promise<string>((resolve, reject) =>
    get(url, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve(body));
      res.on("error", reject);
    }).on("error", reject),
  );
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

/**
 * Resolves once the process has used less than `busyMs` of CPU in each of
 * two consecutive 100 ms windows (or after `timeoutMs`; false then), so that
 * the tail of one change (status writes, the recompile they trigger) does
 * not overlap the next.
 */
export async function waitIdle(pid: number, busyMs = 15, timeoutMs = 30_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let quiet = 0;
  let before = cpuSeconds(pid);
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    const now = cpuSeconds(pid);
    quiet = (now - before) * 1000 < busyMs ? quiet + 1 : 0;
    before = now;
    if (quiet >= 2) return true;
  }
  return false;
}
