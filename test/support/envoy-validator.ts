import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repositoryRoot } from "../../src/controlplane/binaries.js";

let binary: string | undefined;

/**
 * Validates one Envoy message (protojson) with hack/envoyvalidate, which runs
 * go-control-plane's ValidateAll and unpacks every Any. Returns the
 * violations; an empty list means Envoy's proto constraints all hold.
 */
export function envoyViolations(typeName: string, json: string): string[] {
  binary ??= execFileSync("bash", [join(repositoryRoot(), "hack", "envoyvalidate", "build.sh")], {
    stdio: ["ignore", "pipe", "inherit"],
  })
    .toString()
    .trim();
  const dir = mkdtempSync(join(tmpdir(), "skiff-envoy-"));
  try {
    const file = join(dir, "config.json");
    writeFileSync(file, json);
    const result = spawnSync(binary, ["-type", typeName, file], { encoding: "utf8" });
    if (result.status !== 0 && result.status !== 1) throw new Error(`envoyvalidate failed: ${result.stderr}`);
    return result.stdout
      .split("\n")
      .filter(Boolean)
      .map((line) => line.replace(`${file}: `, ""));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
