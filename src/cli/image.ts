import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { repositoryRoot } from "../controlplane/binaries.js";

/** Skiff's version, from package.json. */
export async function skiffVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(join(repositoryRoot(), "package.json"), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

/** The image this binary ships in: $SKIFF_IMAGE, else skiff:<version>. */
export async function operatorImage(): Promise<string> {
  return process.env.SKIFF_IMAGE || `skiff:${await skiffVersion()}`; // an empty variable counts as unset
}
