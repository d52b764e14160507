import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findBinaries } from "../../../src/controlplane/binaries.js";

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

function executable(dir: string, name: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  writeFileSync(path, "#!/bin/sh\n");
  chmodSync(path, 0o755);
  return path;
}

describe("control-plane binary lookup", () => {
  let dir: string;
  // An empty cache, so that what this machine has built does not leak in.
  // The fake PATH entry comes first; the system folders keep bash and coreutils reachable.
  const isolated = () => ({ XDG_CACHE_HOME: join(dir, "cache"), PATH: `${join(dir, "path")}:/usr/bin:/bin` });

  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "skiff-binaries-test-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("prefers TEST_ASSET_* over KUBEBUILDER_ASSETS", async () => {
    const assets = join(dir, "assets");
    for (const name of ["kube-apiserver", "etcd", "kubectl"]) executable(assets, name);
    const override = executable(join(dir, "override"), "my-etcd");
    const found = await withEnv(
      { ...isolated(), KUBEBUILDER_ASSETS: assets, TEST_ASSET_ETCD: override },
      () => findBinaries({ build: false }),
    );
    assert.deepEqual(found, {
      kubeApiserver: join(assets, "kube-apiserver"),
      etcd: override,
      kubectl: join(assets, "kubectl"),
    });
  });

  it("takes kubectl from the PATH when KUBEBUILDER_ASSETS has only the servers", async () => {
    const assets = join(dir, "assets");
    executable(assets, "kube-apiserver");
    executable(assets, "etcd");
    const kubectl = executable(join(dir, "path"), "kubectl");
    const found = await withEnv(
      { ...isolated(), KUBEBUILDER_ASSETS: assets, TEST_ASSET_ETCD: undefined },
      () => findBinaries({ build: false }),
    );
    assert.equal(found.kubectl, kubectl);
  });

  it("uses the versioned cache folder under XDG_CACHE_HOME", async () => {
    await withEnv({ ...isolated(), KUBEBUILDER_ASSETS: undefined, TEST_ASSET_ETCD: undefined }, async () => {
      const { execFileSync } = await import("node:child_process");
      const cacheDir = execFileSync("bash", ["hack/controlplane/build.sh", "--print"]).toString().trim();
      assert.ok(cacheDir.startsWith(join(dir, "cache", "skiff", "controlplane", "kube-v1.")), cacheDir);
      for (const name of ["kube-apiserver", "etcd", "kubectl"]) executable(cacheDir, name);
      const found = await findBinaries({ build: false });
      assert.equal(found.kubeApiserver, join(cacheDir, "kube-apiserver"));
      assert.equal(found.etcd, join(cacheDir, "etcd"));
    });
  });

  it("says what is missing instead of building when building is not allowed", async () => {
    await withEnv({ ...isolated(), KUBEBUILDER_ASSETS: undefined, TEST_ASSET_ETCD: undefined }, async () => {
      await assert.rejects(findBinaries({ build: false }), /not built; run hack\/controlplane\/build.sh/);
    });
  });

  it("refuses a KUBEBUILDER_ASSETS folder without the servers rather than silently building", async () => {
    await withEnv(
      { ...isolated(), KUBEBUILDER_ASSETS: join(dir, "empty"), TEST_ASSET_ETCD: undefined },
      async () => {
        await assert.rejects(findBinaries(), /KUBEBUILDER_ASSETS=.* has no executable (kube-apiserver|etcd)/);
      },
    );
  });

  it("refuses a TEST_ASSET_* that is not executable", async () => {
    await withEnv({ ...isolated(), TEST_ASSET_KUBE_APISERVER: join(dir, "nothing") }, async () => {
      await assert.rejects(
        findBinaries({ build: false }),
        /TEST_ASSET_KUBE_APISERVER=.* is not an executable/,
      );
    });
  });
});
