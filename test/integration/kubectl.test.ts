import assert from "node:assert/strict";
import { join } from "node:path";
import { repositoryRoot } from "../../src/controlplane/binaries.js";
import { eventually, kubectlOk } from "./kubectl.js";

describe("kubectl", () => {
  before(() =>
    kubectlOk([
      "apply",
      "--server-side",
      "--field-manager=skiff-test",
      "-k",
      join(repositoryRoot(), "config", "samples"),
    ]),
  );

  const columns: Record<string, string[]> = {
    mesh: ["NAME", "TRUST DOMAIN", "PROXIES", "READY", "REASON", "AGE"],
    tp: ["NAMESPACE", "NAME", "TARGET", "ACCEPTED", "PROGRAMMED", "REASON", "AGE"],
    pa: ["NAMESPACE", "NAME", "MODE", "ACCEPTED", "PROGRAMMED", "REASON", "AGE"],
    ap: ["NAMESPACE", "NAME", "ACTION", "ACCEPTED", "PROGRAMMED", "REASON", "AGE"],
  };

  for (const [shortName, expected] of Object.entries(columns)) {
    it(`get ${shortName} prints the printer columns`, async () => {
      const out = await kubectlOk(["get", shortName, "-A"]);
      const header = out
        .split("\n")[0]!
        .trim()
        .split(/\s{2,}/);
      assert.deepEqual(header, expected);
    });
  }

  it("get tp shows the key field values", async () => {
    const out = await kubectlOk(["get", "tp", "-n", "bookinfo", "--no-headers"]);
    assert.match(out, /^reviews\s+reviews\s/);
    const pa = await kubectlOk(["get", "pa", "-n", "bookinfo", "--no-headers"]);
    assert.match(pa, /^default\s+STRICT\s/);
  });

  it("get skiff lists every kind in the category", async () => {
    const out = await kubectlOk(["get", "skiff", "-A", "-o", "name"]);
    for (const name of [
      "mesh.skiff.dev/default",
      "trafficpolicy.skiff.dev/reviews",
      "peerauthentication.skiff.dev/default",
      "authorizationpolicy.skiff.dev/reviews-viewer",
    ]) {
      assert.ok(out.includes(name), `${name} missing from:\n${out}`);
    }
  });

  it("explain trafficpolicy.spec.http.retries prints the field descriptions", async () => {
    // The API server publishes OpenAPI for a new CRD shortly after it is Established.
    const out = await eventually(() => kubectlOk(["explain", "trafficpolicy.spec.http.retries"]));
    assert.match(out, /How failed requests are retried/);
    assert.match(out, /attempts\s+<integer> -required-\s+The number of retries/);
    assert.match(out, /perTryTimeout\s+<string>\s+The timeout of each try/);
    assert.match(out, /retryOn\s+<\[\]string>\s+The conditions that trigger a retry/);
  });

  it("explain mesh.spec describes every top-level field", async () => {
    const out = await eventually(() => kubectlOk(["explain", "mesh.spec"]));
    for (const field of [
      "trustDomain",
      "rootNamespace",
      "controlPlane",
      "certificateAuthority",
      "injection",
      "defaults",
      "observability",
    ]) {
      assert.match(out, new RegExp(`^  ${field}\\s+<\\w+>\\s*\\n\\s+\\S`, "m"), field);
    }
  });
});
