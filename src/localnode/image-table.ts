import { copyFileSync, existsSync, linkSync, mkdirSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { imageRepository, type ImageTable, type LocalImage } from "./images.js";
import { proxyImageOf } from "../mesh/names.js";
import { PROXY_UID } from "../mesh/proxy.js";

/** The programs behind the images the local node runs. */
export interface LocalPrograms {
  /** The repository root of the Skiff build whose dist/ the Skiff image runs. */
  skiffRoot: string;
  /** Names of the Skiff image (the published repository, SKIFF_IMAGE, a Mesh's controlPlane.image). */
  skiffImages: string[];
  envoy: string;
  fortio: string;
}

/** The Envoy image's user when the Pod names none; sidecars name 1337. */
const ENVOY_IMAGE_USER = 101;
/** The Skiff image's USER and WORKDIR, from the Dockerfile. */
const SKIFF_IMAGE_USER = 65532;
const SKIFF_IMAGE_ROOT = "/skiff";

/**
 * The images of a Skiff mesh and its demo, as programs on this machine:
 * - Skiff's own image runs `node dist/src/cli/main.js` of this build (so
 *   skiff-init applies `skiff iptables` in the Pod, and the generated xDS
 *   Deployment runs `skiff xds`);
 * - Skiff's proxy image (`<repository>-proxy`) runs the same build's
 *   `skiff`, with the pinned Envoy named by SKIFF_ENVOY_BINARY, as the
 *   Dockerfile's proxy image sets it;
 * - envoyproxy/envoy runs the pinned Envoy;
 * - fortio/fortio runs fortio (its image's CMD is `server`).
 * Binaries are linked into `binDir` first: the caches live under a home
 * folder that other users (Envoy runs as 1337) cannot enter.
 */
export function localImageTable(programs: LocalPrograms, binDir: string): ImageTable {
  mkdirSync(binDir, { recursive: true, mode: 0o755 });
  const reachable = (path: string) => {
    const target = join(binDir, basename(path));
    if (!existsSync(target)) {
      try {
        linkSync(path, target);
      } catch {
        copyFileSync(path, target); // another file system
      }
    }
    return target;
  };
  // The build is bound at /skiff, the image's WORKDIR, so uid 65532 reads it
  // even when the checkout sits under a folder closed to other users.
  const main = join(programs.skiffRoot, "dist", "src", "cli", "main.js");
  const skiff: LocalImage = {
    entrypoint: [process.execPath, join(SKIFF_IMAGE_ROOT, "dist", "src", "cli", "main.js")],
    defaultArgs: [],
    programNames: ["skiff"],
    user: SKIFF_IMAGE_USER,
    workingDir: SKIFF_IMAGE_ROOT,
    contents: [{ source: programs.skiffRoot, target: SKIFF_IMAGE_ROOT }],
    ...(existsSync(main)
      ? {}
      : { unavailable: `the Skiff image runs ${main}, which is not built: run make build` }),
  };
  // The proxy image: skiff agent, which finds Envoy where the real image's ENV says.
  const proxy: LocalImage = {
    ...skiff,
    entrypoint: ["/usr/bin/env", `SKIFF_ENVOY_BINARY=${reachable(programs.envoy)}`, ...skiff.entrypoint],
    programNames: ["skiff"],
    user: PROXY_UID,
  };
  const entries: [string, LocalImage][] = [
    ...programs.skiffImages.map((image) => [imageRepository(image), skiff] as [string, LocalImage]),
    ...programs.skiffImages.map(
      (image) => [imageRepository(proxyImageOf(image)), proxy] as [string, LocalImage],
    ),
    [
      "envoyproxy/envoy",
      {
        entrypoint: [reachable(programs.envoy)],
        defaultArgs: [],
        programNames: ["envoy"],
        user: ENVOY_IMAGE_USER,
      },
    ],
    [
      "fortio/fortio",
      {
        entrypoint: [reachable(programs.fortio)],
        defaultArgs: ["server"],
        programNames: ["fortio"],
        user: 0,
      },
    ],
  ];
  return new Map(entries);
}

/** The first folder from `/` down to `path` that other users cannot enter, if any. */
export function closedAncestor(path: string): string | undefined {
  const parts = resolve(path).split("/").filter(Boolean);
  for (let i = 0; i <= parts.length; i++) {
    const dir = "/" + parts.slice(0, i).join("/");
    if ((statSync(dir).mode & 0o001) === 0) return dir;
  }
  return undefined;
}
