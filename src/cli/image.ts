import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Where Skiff's images are published; config/default pins the same name. */
export const IMAGE_REPOSITORY = "ghcr.io/skiff-dev/skiff";

/**
 * Skiff's package.json, found by walking up from this module: it works from
 * the source tree (tsx), from dist/ and inside the image, which has no hack/.
 */
function packageJsonPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find package.json above ${import.meta.url}`);
    dir = parent;
  }
  return join(dir, "package.json");
}

/** Skiff's version, from package.json. */
export async function skiffVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(packageJsonPath(), "utf8")) as { version: string };
  return pkg.version;
}

/** The image this binary ships in: $SKIFF_IMAGE, else the published image of this version. */
export async function operatorImage(): Promise<string> {
  return process.env.SKIFF_IMAGE || `${IMAGE_REPOSITORY}:${await skiffVersion()}`; // an empty variable counts as unset
}
