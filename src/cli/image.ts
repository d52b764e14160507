import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { repositoryRoot } from "../controlplane/binaries.js";

/** The image this binary ships in: $SKIFF_IMAGE, else skiff:<package version>. */
export async function operatorImage(): Promise<string> {
  if (process.env.SKIFF_IMAGE) return process.env.SKIFF_IMAGE;
  const pkg = JSON.parse(await readFile(join(repositoryRoot(), "package.json"), "utf8")) as {
    version: string;
  };
  return `skiff:${pkg.version}`;
}
