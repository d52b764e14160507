/** What every benchmark report shares: number formatting, the machine's description, writing the file. */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { format } from "prettier";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

export const fmt = (n: number | undefined, digits = 0) =>
  n === undefined || Number.isNaN(n)
    ? "n/a"
    : n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** The machine and the toolchain; `goRole` says what the Go programs (hack/xdsbench) do in this benchmark. */
export function machine(goRole: string): string[] {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const model = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1]?.trim() ?? "unknown";
  const go = spawnSync("go", ["version"], { encoding: "utf8" })
    .stdout.trim()
    .replace(/^go version /, "");
  const version = (pkg: string) =>
    (JSON.parse(readFileSync(join(ROOT, "node_modules", pkg, "package.json"), "utf8")) as { version: string })
      .version;
  const gcp = /github\.com\/envoyproxy\/go-control-plane (v\S+)/.exec(
    readFileSync(join(ROOT, "hack", "xdsbench", "go.mod"), "utf8"),
  )?.[1];
  return [
    `CPU: ${model}, ${cpus().length} cores (servers and load generator share them)`,
    `memory: ${(totalmem() / 2 ** 30).toFixed(1)} GiB; Linux ${release()}`,
    `Node.js ${process.version}, @grpc/grpc-js ${version("@grpc/grpc-js")}; ${go}, go-control-plane ${gcp}, grpc-go (${goRole})`,
  ];
}

/** Formats the markdown, writes it to `<dir>/<name>-<date>.md`, prints it and returns the file's path. */
export async function writeReport(
  markdown: string,
  dir: string,
  name: string,
  date: string,
): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}-${date}.md`);
  const formatted = await format(markdown, { parser: "markdown", printWidth: 110 });
  writeFileSync(file, formatted);
  process.stdout.write(formatted);
  return file;
}
