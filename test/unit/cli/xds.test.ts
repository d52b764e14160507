import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { xdsArguments } from "../../../src/cli/xds.js";

describe("skiff xds arguments", () => {
  it("elects the status writer with a Lease, and reads the CA, in the Pod's namespace", () => {
    // Once, the lease namespace was parsed but never passed on, so every replica wrote status.
    const parsed = xdsArguments([], { POD_NAMESPACE: "mesh-root" });
    assert.ok("options" in parsed);
    assert.equal(parsed.options.statusLeaseNamespace, "mesh-root");
    assert.equal(parsed.options.caNamespace, "mesh-root");
    assert.equal(parsed.options.address, "0.0.0.0:15010");
    assert.equal(parsed.options.debounceMs, 50);
  });

  it("takes an explicit lease namespace and debounce, and refuses a bad debounce", () => {
    const parsed = xdsArguments(["--status-lease-namespace", "leases", "--debounce-ms", "10"], {});
    assert.ok("options" in parsed);
    assert.deepEqual(
      [parsed.options.statusLeaseNamespace, parsed.options.caNamespace, parsed.options.debounceMs],
      ["leases", "skiff-system", 10],
    );
    assert.deepEqual(xdsArguments(["--debounce-ms", "soon"], {}), {
      error: "--debounce-ms must be a whole number of milliseconds, not 'soon'",
    });
  });

  it("serves TLS for its Service's names and requires tokens, unless told --insecure", () => {
    const secure = xdsArguments([], { POD_NAMESPACE: "mesh-root" });
    assert.ok("options" in secure);
    assert.deepEqual(secure.options.security, {
      mode: "tls",
      serverNames: [
        "skiff-xds.mesh-root.svc",
        "skiff-xds.mesh-root.svc.cluster.local",
        "skiff-xds.mesh-root",
        "skiff-xds",
      ],
    });
    const insecure = xdsArguments(["--insecure"], {});
    assert.ok("options" in insecure);
    assert.deepEqual(insecure.options.security, { mode: "insecure" });
  });

  it("asks the other replicas found by the Service's endpoints in a Pod, the --peer ones if given, else none", () => {
    const inPod = xdsArguments([], { POD_NAMESPACE: "mesh-root", POD_NAME: "skiff-xds-a" });
    assert.ok("options" in inPod);
    assert.deepEqual(inPod.options.replicas?.peers, {
      service: "skiff-xds",
      portName: "grpc-xds",
      self: "skiff-xds-a",
    });
    const fixed = xdsArguments(["--peer", "10.0.0.2:15010", "--peer", "10.0.0.3:15010"], { POD_NAME: "a" });
    assert.ok("options" in fixed);
    assert.deepEqual(fixed.options.replicas?.peers, [
      { name: "10.0.0.2:15010", address: "10.0.0.2:15010" },
      { name: "10.0.0.3:15010", address: "10.0.0.3:15010" },
    ]);
    const alone = xdsArguments([], {});
    assert.ok("options" in alone);
    assert.equal(alone.options.replicas, undefined);
  });

  it("reads its token for the other replicas from --token-file, anew each time", async () => {
    const dir = await mkdtemp(join(tmpdir(), "skiff-xds-token-"));
    const file = join(dir, "token");
    const parsed = xdsArguments(["--peer", "10.0.0.2:15010", "--token-file", file], {});
    assert.ok("options" in parsed);
    await writeFile(file, "first\n");
    assert.equal(await parsed.options.replicas?.token(), "first");
    await writeFile(file, "rotated\n");
    assert.equal(await parsed.options.replicas?.token(), "rotated");
    await rm(dir, { recursive: true });
  });
});
