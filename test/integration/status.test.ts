import assert from "node:assert/strict";
import type { KubernetesObject } from "@kubernetes/client-node";
import type { PolicyFindings } from "../../src/compile/findings.js";
import { ServerSideApplier } from "../../src/k8s/apply.js";
import { trafficPolicyStatus } from "../../src/xds/status/traffic-policy.js";
import { controlPlane } from "./controlplane.fixture.js";
import { kubectlOk } from "./kubectl.js";

describe("the status subresource", () => {
  const name = "status-test";
  /** A merge patch of the status subresource, as a controller would write it. */
  const patchStatus = (body: object) =>
    kubectlOk([
      "patch",
      "tp",
      name,
      "-n",
      "default",
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify(body),
    ]);
  const get = async () => JSON.parse(await kubectlOk(["get", "tp", name, "-n", "default", "-o", "json"]));

  before(() =>
    kubectlOk(
      ["apply", "-f", "-"],
      `apiVersion: skiff.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: ${name}, namespace: default }
spec:
  targetRef: { name: reviews }
`,
    ),
  );
  after(() => kubectlOk(["delete", "tp", name, "-n", "default"]));

  it("takes a status update without bumping metadata.generation", async () => {
    const before = await get();
    const status = {
      observedGeneration: before.metadata.generation,
      conditions: [
        {
          type: "Accepted",
          status: "True",
          reason: "Accepted",
          message: "the policy is valid",
          lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
          observedGeneration: before.metadata.generation,
        },
      ],
    };
    await patchStatus({ status });
    const after = await get();
    assert.equal(after.metadata.generation, before.metadata.generation);
    assert.equal(after.status.conditions[0].reason, "Accepted");
    const row = await kubectlOk(["get", "tp", name, "-n", "default", "--no-headers"]);
    assert.match(row, /^status-test\s+reviews\s+True\s/);
  });

  it("ignores status written through the main resource, and a spec change bumps the generation", async () => {
    const before = await get();
    await kubectlOk([
      "patch",
      "tp",
      name,
      "-n",
      "default",
      "--type=merge",
      "-p",
      JSON.stringify({
        spec: { loadBalancer: { algorithm: "Random" } },
        status: { observedGeneration: 99 },
      }),
    ]);
    const after = await get();
    assert.equal(after.metadata.generation, before.metadata.generation + 1);
    assert.equal(after.status.observedGeneration, before.status.observedGeneration);
  });

  it("rejects a malformed condition", async () => {
    const bad = {
      status: {
        conditions: [
          {
            type: "Accepted",
            status: "Maybe",
            reason: "x",
            message: "",
            lastTransitionTime: "2026-01-01T00:00:00Z",
          },
        ],
      },
    };
    await assert.rejects(patchStatus(bad), /status.conditions\[0\].status: Unsupported value: "Maybe"/);
  });

  it("takes, by server-side apply as the status writer sends it, a NACK message cut at an emoji", async () => {
    const applier = new ServerSideApplier(controlPlane().kubeConfig(), "skiff/status-test");
    const apply = (status: object) =>
      applier.apply(
        {
          apiVersion: "skiff.dev/v1alpha1",
          kind: "TrafficPolicy",
          metadata: { name, namespace: "default" },
          status,
        } as KubernetesObject,
        { subresource: "status" },
      );
    const { metadata } = await get();
    const source = { namespace: "default", name, generation: metadata.generation };
    const found: PolicyFindings = {
      kind: "TrafficPolicy",
      source,
      // A policy whose target Service exists: proxies carry it, and one NACKed it.
      service: "reviews.default.svc.cluster.local",
      findings: [{ type: "Accepted", status: "True", reason: "Accepted", message: "ok" }],
      unsupported: [],
    };
    const lastNackMessage = "x".repeat(1023) + "🙂🙂"; // .slice(0, 1024) would keep half of the first emoji
    // Why it matters: half an emoji goes out as "\ud83d", and the API server refuses the whole write.
    await assert.rejects(
      apply({
        proxies: { targeted: 1, acked: 0, nacked: 1, lastNackMessage: lastNackMessage.slice(0, 1024) },
      }),
      /yaml: found invalid Unicode character escape code/,
    );
    const status = trafficPolicyStatus(
      found,
      { targeted: 1, proxyless: 0, acked: 0, nacked: 1, lastNackMessage },
      [],
      new Date(),
    );
    await apply(status);
    const stored = (await get()).status;
    assert.equal(stored.proxies.lastNackMessage, "x".repeat(1023) + "🙂");
    assert.equal(stored.conditions.find((c: { type: string }) => c.type === "Programmed").reason, "Nacked");
  });
});
