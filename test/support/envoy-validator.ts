import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repositoryRoot } from "../../src/controlplane/binaries.js";

let binary: string | undefined;

function validatorBinary(): string {
  binary ??= execFileSync("bash", [join(repositoryRoot(), "hack", "envoyvalidate", "build.sh")], {
    stdio: ["ignore", "pipe", "inherit"],
  })
    .toString()
    .trim();
  return binary;
}

/**
 * Validates one Envoy message (protojson) with hack/envoyvalidate, which runs
 * go-control-plane's ValidateAll and unpacks every Any. Returns the
 * violations; an empty list means Envoy's proto constraints all hold.
 */
export function envoyViolations(typeName: string, json: string): string[] {
  const dir = mkdtempSync(join(tmpdir(), "skiff-envoy-"));
  try {
    const file = join(dir, "config.json");
    writeFileSync(file, json);
    const result = spawnSync(validatorBinary(), ["-type", typeName, file], { encoding: "utf8" });
    if (result.status !== 0 && result.status !== 1) throw new Error(`envoyvalidate failed: ${result.stderr}`);
    return result.stdout
      .split("\n")
      .filter(Boolean)
      .map((line) => line.replace(`${file}: `, ""));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Validates many messages with one validator run per type. Each item has a
 * label; the result lists "<label>: <violation>" for every violation found.
 */
export function envoyViolationsOfMany(items: { label: string; typeName: string; json: string }[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), "skiff-envoy-"));
  try {
    const problems: string[] = [];
    const byType = new Map<string, { label: string; file: string }[]>();
    items.forEach((item, i) => {
      const file = join(dir, `${i}.json`);
      writeFileSync(file, item.json);
      byType.set(item.typeName, [...(byType.get(item.typeName) ?? []), { label: item.label, file }]);
    });
    for (const [typeName, files] of byType) {
      const result = spawnSync(validatorBinary(), ["-type", typeName, ...files.map((f) => f.file)], {
        encoding: "utf8",
      });
      if (result.status !== 0 && result.status !== 1)
        throw new Error(`envoyvalidate failed: ${result.stderr}`);
      for (const line of result.stdout.split("\n").filter(Boolean)) {
        const owner = files.find((f) => line.startsWith(`${f.file}: `));
        problems.push(owner ? `${owner.label}: ${line.slice(owner.file.length + 2)}` : line);
      }
    }
    return problems;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
