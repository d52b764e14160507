import assert from "node:assert/strict";
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
});
