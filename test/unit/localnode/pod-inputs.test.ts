import assert from "node:assert/strict";
import type { IPod } from "kubernetes-models/v1";
import {
  ContainerConfigError,
  containerEnvironment,
  podFieldValue,
  referencedObjects,
} from "../../../src/localnode/pod-inputs.js";
import { requestedTokens, safeRelativePath, volumeSource } from "../../../src/localnode/volumes.js";

const facts = { podIP: "10.244.0.7", hostIP: "10.244.0.1", nodeName: "skiff-local" };
const pod: IPod = {
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "web", namespace: "demo", uid: "u-1", labels: { app: "web", b: "2" } },
  spec: {
    serviceAccountName: "web",
    containers: [
      {
        name: "app",
        envFrom: [{ configMapRef: { name: "settings" }, prefix: "S_" }],
        env: [
          { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
          { name: "URL", value: "http://$(POD_IP):8080" },
          { name: "PASSWORD", valueFrom: { secretKeyRef: { name: "creds", key: "password" } } },
        ],
      },
    ],
    volumes: [
      { name: "cfg", configMap: { name: "settings", items: [{ key: "mode", path: "conf/mode" }] } },
      {
        name: "token",
        projected: {
          sources: [
            { serviceAccountToken: { audience: "skiff", expirationSeconds: 600, path: "token" } },
            { downwardAPI: { items: [{ path: "labels", fieldRef: { fieldPath: "metadata.labels" } }] } },
          ],
        },
      },
    ],
  },
};
const inputs = {
  configMaps: new Map([["settings", { data: { mode: "fast" } }]]),
  secrets: new Map([["creds", { data: { password: Buffer.from("s3cret").toString("base64") } }]]),
};

describe("local node pod inputs", () => {
  it("lists the ConfigMaps and Secrets a Pod refers to", () => {
    const refs = referencedObjects(pod);
    assert.deepEqual([...refs.configMaps], ["settings"]);
    assert.deepEqual([...refs.secrets], ["creds"]);
  });

  it("builds the environment in the kubelet's order, expanding $(VAR)", () => {
    const env = containerEnvironment(
      pod,
      pod.spec!.containers[0]!,
      inputs,
      facts,
      new Map([["KUBERNETES_SERVICE_HOST", "10.0.0.1"]]),
    );
    assert.equal(env.get("KUBERNETES_SERVICE_HOST"), "10.0.0.1");
    assert.equal(env.get("S_mode"), "fast");
    assert.equal(env.get("URL"), "http://10.244.0.7:8080");
    assert.equal(env.get("PASSWORD"), "s3cret");
  });

  it("refuses a missing key that is not optional", () => {
    const missing = { configMaps: new Map(), secrets: new Map() };
    assert.throws(
      () => containerEnvironment(pod, pod.spec!.containers[0]!, missing, facts, new Map()),
      ContainerConfigError,
    );
  });

  it("gives downward-API fields as the kubelet formats them", () => {
    assert.equal(podFieldValue(pod, "metadata.labels", facts), 'app="web"\nb="2"');
    assert.equal(podFieldValue(pod, "metadata.labels['app']", facts), "web");
    assert.equal(podFieldValue(pod, "spec.serviceAccountName", facts), "web");
    assert.throws(() => podFieldValue(pod, "spec.nope", facts), ContainerConfigError);
  });

  it("writes volume files: items, projected tokens and downward API", () => {
    const cfg = volumeSource(pod, pod.spec!.volumes![0]!, inputs, facts, () => "unused");
    assert.deepEqual(cfg.kind === "files" && cfg.files.map((f) => [f.path, f.content.toString(), f.mode]), [
      ["conf/mode", "fast", 0o644],
    ]);
    assert.deepEqual(requestedTokens(pod), [{ audience: "skiff", expirationSeconds: 600 }]);
    const token = volumeSource(pod, pod.spec!.volumes![1]!, inputs, facts, (aud, exp) => `tok-${aud}-${exp}`);
    assert.deepEqual(token.kind === "files" && token.files.map((f) => [f.path, f.content.toString()]), [
      ["token", "tok-skiff-600"],
      ["labels", 'app="web"\nb="2"'],
    ]);
  });

  it("keeps volume paths inside the volume", () => {
    assert.ok(safeRelativePath("a/b"));
    assert.ok(!safeRelativePath("../etc/passwd"));
    assert.ok(!safeRelativePath("/etc/passwd"));
    assert.ok(!safeRelativePath("a/../../b"));
  });
});
