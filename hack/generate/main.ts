/**
 * `make generate`: writes every generated file from the schema modules in
 * src/api. `--check` writes nothing and fails when a file on disk differs from
 * what would be generated (`make verify` uses it).
 *
 * Outputs:
 * - crds/skiff.dev_<plural>.yaml                  the CustomResourceDefinitions
 * - crds/kustomization.yaml                       lists them (kubectl apply -k crds; config/crd uses it)
 * - src/api/v1alpha1/generated/<singular>.ts      TypeScript types for each kind
 * - src/api/certmanager/v1/generated/<kind>.ts    types for the cert-manager subset Skiff uses
 */
import { readFile, writeFile, mkdir, readdir, rm } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { generatedFiles } from "./files.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const check = process.argv.includes("--check");

const files = await generatedFiles();
const stale: string[] = [];
for (const [path, content] of files) {
  const absolute = join(root, path);
  const current = await readFile(absolute, "utf8").catch(() => undefined);
  if (current === content) continue;
  stale.push(path);
  if (!check) {
    await mkdir(dirname(absolute), { recursive: true });
    await writeFile(absolute, content);
  }
}

// Generated folders hold nothing but generated files: anything else is left
// over from a renamed or removed kind.
for (const dir of ["crds", "src/api/v1alpha1/generated", "src/api/certmanager/v1/generated"]) {
  for (const name of await readdir(join(root, dir)).catch(() => [] as string[])) {
    const path = join(dir, name);
    if (files.has(path)) continue;
    stale.push(`${path} (no longer generated)`);
    if (!check) await rm(join(root, path));
  }
}

if (check && stale.length > 0) {
  console.error(`Generated files are stale; run 'make generate':\n  ${stale.join("\n  ")}`);
  process.exit(1);
}
console.log(
  check
    ? `generated files are up to date (${files.size} files)`
    : `wrote ${stale.length} of ${files.size} generated files${stale.length ? ":\n  " + stale.map((p) => relative(".", p)).join("\n  ") : ""}`,
);
