import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import {
  corednsBinary,
  envoyBinary,
  fortioBinary,
  toolBinary,
  toolCachePath,
  type Tool,
} from "../../../src/localnode/tools.js";

/** Runs `fn` with environment variables set, restoring them afterwards. */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(vars))
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  }
}

function file(path: string, mode: number): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, "#!/bin/sh\n");
  chmodSync(path, mode);
  return path;
}

const CASES: { tool: Tool; env: string; find: typeof envoyBinary }[] = [
  { tool: "envoy", env: "SKIFF_ENVOY", find: envoyBinary },
  { tool: "fortio", env: "SKIFF_FORTIO", find: fortioBinary },
  { tool: "coredns", env: "SKIFF_COREDNS", find: corednsBinary },
];

// Nothing here fetches or builds: every case either has an override, has a
// fake binary in an empty throwaway cache, or passes build: false.
describe("data-plane tool lookup", () => {
  let dir: string;
  const noOverrides = { SKIFF_ENVOY: undefined, SKIFF_FORTIO: undefined, SKIFF_COREDNS: undefined };
  const emptyCache = () => ({ ...noOverrides, XDG_CACHE_HOME: join(dir, "cache") });

  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "skiff-tools-test-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  for (const { tool, env, find } of CASES) {
    describe(tool, () => {
      it(`prefers ${env} over the cached binary, and returns it as an absolute path`, async () => {
        await withEnv(emptyCache(), async () => {
          const cached = file(await toolCachePath(tool), 0o755);
          const override = file(join(dir, "bin", tool), 0o755);
          assert.equal(await withEnv({ [env]: relative(process.cwd(), override) }, () => find()), override);
          assert.equal(await find({ build: false }), cached);
        });
      });

      it("uses the cached binary under XDG_CACHE_HOME/skiff when there is no override", async () => {
        await withEnv(emptyCache(), async () => {
          const cached = await toolCachePath(tool);
          assert.ok(cached.startsWith(join(dir, "cache", "skiff", tool) + "/"), cached);
          file(cached, 0o755);
          assert.equal(await find(), cached);
        });
      });

      it(`rejects a ${env} that is not an executable file, instead of falling back`, async () => {
        await withEnv(emptyCache(), async () => {
          file(await toolCachePath(tool), 0o755); // a usable fallback that must not be taken
          const plain = file(join(dir, "plain"), 0o644);
          const folder = join(dir, "folder");
          mkdirSync(folder);
          const cases: [string, RegExp][] = [
            [plain, /is not executable/],
            [folder, /is not a regular file/],
            [join(dir, "missing"), /does not exist/],
          ];
          for (const [path, reason] of cases)
            await assert.rejects(
              withEnv({ [env]: path }, () => find()),
              (e: Error) => e.message.startsWith(`${env}=${path} `) && reason.test(e.message),
              path,
            );
        });
      });

      it("with build: false, says which script to run when nothing is cached", async () => {
        await withEnv(emptyCache(), async () => {
          await assert.rejects(
            toolBinary(tool, { build: false }),
            new RegExp(`${tool} is not in the cache .*; run hack/${tool}/\\w+\\.sh or set ${env}`),
          );
        });
      });
    });
  }
});
