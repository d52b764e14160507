/** The Go half of the xDS benchmarks (hack/xdsbench: go-control-plane peer and ADS load generator). */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Child } from "./child.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** Builds xdsbench if its source changed (hack/xdsbench/build.sh) and returns the binary's path. */
export function buildXdsbench(): string {
  const built = spawnSync(join(ROOT, "hack", "xdsbench", "build.sh"), {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  if (built.status !== 0) throw new Error("hack/xdsbench/build.sh failed");
  return built.stdout.trim();
}

/** An ADS variant of the load generator. */
export type Mode = "sotw" | "delta";

export interface LoadOptions {
  readonly target: string;
  readonly proxies: number;
  readonly mode: Mode;
  /** Node ids are sidecar~10.0.0.1~<prefix>-<i>.bench~…, so runs never share proxies. */
  readonly prefix: string;
  readonly timeoutS: number;
  /** Further flags, e.g. --hold or --restart-wait. */
  readonly extra?: readonly string[];
}

/** Starts `xdsbench load`: N simulated Envoy sidecars against an ADS server. */
export function startLoad(xdsbench: string, o: LoadOptions): Child {
  return new Child(`xdsbench load (${o.mode}, ${o.proxies})`, [
    xdsbench,
    "load",
    "--target",
    o.target,
    "--proxies",
    String(o.proxies),
    "--mode",
    o.mode,
    "--node-prefix",
    o.prefix,
    "--timeout",
    String(o.timeoutS),
    ...(o.extra ?? []),
  ]);
}
