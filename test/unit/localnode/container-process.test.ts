import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ContainerProcess } from "../../../src/localnode/container-process.js";
import { LocalNode } from "../../../src/localnode/local-node.js";
import { ip } from "../../../src/localnode/netns.js";

describe("a container process on the local node", function () {
  // Named as the local node names its namespaces, so a leaked one is swept.
  const netns = `skiff-${process.pid}x0-unit`;
  let dir: string;

  before(async function () {
    if (LocalNode.unsupportedReason()) this.skip();
    await ip("netns", "add", netns);
    dir = mkdtempSync(join(tmpdir(), "skiff-container-"));
  });
  after(async () => {
    if (!dir) return;
    rmSync(dir, { recursive: true, force: true });
    await ip("netns", "delete", netns).catch(() => {});
  });

  function launch(argv: string[]): ContainerProcess {
    const volume = join(dir, "volume");
    execFileSync("mkdir", ["-p", volume]);
    writeFileSync(join(volume, "greeting.txt"), "hello");
    writeFileSync(join(dir, "resolv.conf"), "nameserver 127.0.0.1\n");
    writeFileSync(join(dir, "hosts"), "127.0.0.1 localhost\n");
    return new ContainerProcess({
      netns,
      hostname: "unit",
      argv,
      env: new Map([["PATH", "/usr/sbin:/usr/bin:/sbin:/bin"]]),
      uid: 0,
      gid: 0,
      workingDir: "/",
      mounts: [{ source: volume, target: join(dir, "mounted"), readOnly: true, file: false }],
      resolvConf: join(dir, "resolv.conf"),
      hosts: join(dir, "hosts"),
      scriptPath: join(dir, "launch.sh"),
      logPath: join(dir, "container.log"),
    });
  }

  it("says it started only once its mounts are in place, and not before", async () => {
    const container = launch(["sleep", "30"]);
    try {
      assert.equal(await container.started, true);
      const pid = container.startedPid;
      assert.ok(pid, "a started container has a pid");
      // Entered right away, its mount namespace already holds the volume.
      const seen = execFileSync("nsenter", [
        "-t",
        String(pid),
        "-m",
        "--",
        "cat",
        join(dir, "mounted/greeting.txt"),
      ]);
      assert.equal(seen.toString(), "hello");
    } finally {
      await container.stop(1000);
    }
  });

  it("says it never started when the launcher fails before the program runs", async () => {
    const container = new ContainerProcess({
      netns: `${netns}-missing`,
      hostname: "unit",
      argv: ["true"],
      env: new Map(),
      uid: 0,
      gid: 0,
      workingDir: "/",
      mounts: [],
      resolvConf: join(dir, "resolv.conf"),
      hosts: join(dir, "hosts"),
      scriptPath: join(dir, "launch-missing.sh"),
      logPath: join(dir, "missing.log"),
    });
    assert.equal(await container.started, false);
    assert.notEqual(await container.exited, 0);
    assert.equal(container.startedPid, undefined);
    assert.match(readFileSync(join(dir, "missing.log"), "utf8"), /nsenter/);
  });
});
