import assert from "node:assert/strict";
import {
  expandVariables,
  imageRepository,
  resolveCommand,
  type ImageTable,
} from "../../../src/localnode/images.js";

const table: ImageTable = new Map([
  [
    "fortio/fortio",
    { entrypoint: ["/cache/fortio"], defaultArgs: ["server"], programNames: ["fortio"], user: 0 },
  ],
  ["envoyproxy/envoy", { entrypoint: ["/cache/envoy"], defaultArgs: [], programNames: ["envoy"], user: 0 }],
]);
const noPrograms = () => undefined;

describe("local node images", () => {
  it("reads the repository of an image reference", () => {
    assert.equal(imageRepository("fortio/fortio:1.75.3"), "fortio/fortio");
    assert.equal(imageRepository("docker.io/fortio/fortio"), "fortio/fortio");
    assert.equal(imageRepository("docker.io/library/nginx:1"), "nginx");
    assert.equal(imageRepository("localhost:5000/a/b:tag@sha256:abc"), "localhost:5000/a/b");
  });

  it("runs the image's entrypoint with CMD, args or command as Kubernetes combines them", () => {
    assert.deepEqual(resolveCommand(table, { image: "fortio/fortio:latest" }, noPrograms), {
      kind: "run",
      argv: ["/cache/fortio", "server"],
      user: 0,
      image: table.get("fortio/fortio"),
    });
    assert.deepEqual(
      resolveCommand(table, { image: "fortio/fortio", args: ["load", "-n", "5"] }, noPrograms),
      {
        kind: "run",
        argv: ["/cache/fortio", "load", "-n", "5"],
        user: 0,
        image: table.get("fortio/fortio"),
      },
    );
    // command replaces the entrypoint and drops CMD; the image's own program is the local binary.
    assert.deepEqual(
      resolveCommand(table, { image: "fortio/fortio", command: ["/usr/bin/fortio", "curl"] }, noPrograms),
      {
        kind: "run",
        argv: ["/cache/fortio", "curl"],
        user: 0,
        image: table.get("fortio/fortio"),
      },
    );
    assert.deepEqual(
      resolveCommand(table, { image: "envoyproxy/envoy:v1.40.0", command: ["sleep"], args: ["10"] }, (p) =>
        p === "sleep" ? "/usr/bin/sleep" : undefined,
      ),
      { kind: "run", argv: ["/usr/bin/sleep", "10"], user: 0, image: table.get("envoyproxy/envoy") },
    );
  });

  it("refuses an image it does not have, and a command that is nowhere, with a clear reason", () => {
    const pull = resolveCommand(table, { image: "nginx:1.27" }, noPrograms);
    assert.equal(pull.kind, "error");
    assert.equal(pull.kind === "error" && pull.reason, "ErrImagePull");
    assert.match(pull.kind === "error" ? pull.message : "", /nginx:1.27.*envoyproxy\/envoy, fortio\/fortio/);
    const run = resolveCommand(table, { image: "fortio/fortio", command: ["nope"] }, noPrograms);
    assert.equal(run.kind === "error" && run.reason, "RunContainerError");
  });

  it("expands $(VAR) as Kubernetes does", () => {
    const env = new Map([
      ["POD_IP", "10.244.0.2"],
      ["NS", "demo"],
    ]);
    assert.equal(expandVariables("sidecar~$(POD_IP)~x.$(NS)", env), "sidecar~10.244.0.2~x.demo");
    assert.equal(expandVariables("$(MISSING) stays", env), "$(MISSING) stays");
    assert.equal(expandVariables("$$(POD_IP) is escaped", env), "$(POD_IP) is escaped");
  });
});

describe("local node images that are known but not built", () => {
  it("say what to build", () => {
    const table: ImageTable = new Map([
      [
        "skiff",
        {
          entrypoint: ["node", "main.js"],
          defaultArgs: [],
          programNames: ["skiff"],
          user: 65532,
          unavailable: "run make build",
        },
      ],
    ]);
    assert.deepEqual(
      resolveCommand(table, { image: "skiff:1" }, () => undefined),
      {
        kind: "error",
        reason: "ErrImagePull",
        message: "run make build",
      },
    );
  });
});
