/** The Go half of the xDS benchmarks (hack/xdsbench: go-control-plane peer and ADS load generator). */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

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
