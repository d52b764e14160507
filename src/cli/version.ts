import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { repositoryRoot } from "../controlplane/binaries.js";

export async function runVersion(): Promise<number> {
  const pkg = JSON.parse(await readFile(join(repositoryRoot(), "package.json"), "utf8")) as {
    version: string;
  };
  console.log(`skiff ${pkg.version}`);
  return 0;
}
