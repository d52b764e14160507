import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, runSkiff } from "../../support/skiff-cli.js";

const FIXTURES = join(ROOT, "test", "testdata", "analyze");
const fixture = (code: string, kind: "positive" | "negative") => join(FIXTURES, code, `${kind}.yaml`);
const analyze = (...args: string[]) => runSkiff("analyze", ...args);

/** Bad input: exit 3, one line on stderr per problem, each saying what is wrong, and no stack trace. */
function assertBadInput(run: { code: number; stdout: string; stderr: string }, expected: RegExp) {
  assert.equal(run.code, 3, run.stderr);
  assert.equal(run.stdout, "");
  assert.match(run.stderr, expected);
  assert.doesNotMatch(run.stderr, /\n\s+at /);
}

describe("skiff analyze (the command line)", function () {
  this.timeout(60_000);

  it("exits 0 and says so when there is nothing to report", async () => {
    const run = await analyze("-f", join(ROOT, "config", "samples"));
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, "No problems found.\n");
  });

  it("exits 1 for warnings only, with one line per finding and a summary", async () => {
    const run = await analyze("-f", fixture("SKF0104", "positive"));
    assert.equal(run.code, 1, run.stderr);
    assert.equal(
      run.stdout,
      'warning SKF0104 TrafficPolicy/shop/web spec.http[1]: rule "api-v1" never matches: rule "api" (spec.http[0]) comes first and matches every request it would\n' +
        "0 errors, 1 warning (fixes: docs/analyze.md, or -o json)\n",
    );
  });

  it("exits 2 when any finding is an error, warnings beside it", async () => {
    const run = await analyze("-f", fixture("SKF0101", "positive"), "-f", fixture("SKF0501", "positive"));
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stdout, /^error {3}SKF0101 /m);
    assert.match(run.stdout, /^warning SKF0501 /m);
    assert.match(run.stdout, /1 error, 1 warning/);
  });

  it("gives -o json with code, severity, object, field, message, fix and docs", async () => {
    const run = await analyze("-f", fixture("SKF0101", "positive"), "-o", "json");
    assert.equal(run.code, 2, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), {
      findings: [
        {
          code: "SKF0101",
          severity: "error",
          object: { kind: "TrafficPolicy", namespace: "shop", name: "web" },
          field: "spec.targetRef.name",
          message: "Service shop/ghost does not exist.",
          fix: "Create the Service, or point spec.targetRef.name at a Service of the policy's namespace.",
          docs: "docs/analyze.md#skf0101",
        },
      ],
      summary: { errors: 1, warnings: 0 },
    });
    const clean = await analyze("-f", fixture("SKF0101", "negative"), "-o", "json");
    assert.equal(clean.code, 0);
    assert.deepEqual(JSON.parse(clean.stdout), { findings: [], summary: { errors: 0, warnings: 0 } });
  });

  it("exits 3 on bad options, each in one line before the usage", async () => {
    assertBadInput(
      await analyze("-f", fixture("SKF0101", "negative"), "-o", "yaml"),
      /^skiff analyze: -o must be json or text\n/,
    );
    assertBadInput(await analyze("-n", "shop", "-A"), /^skiff analyze: -n and -A exclude each other\n/);
    assertBadInput(await analyze("-f", FIXTURES, "--context", "prod"), /^skiff analyze: -f reads files only/);
    assertBadInput(await analyze("--bogus"), /^skiff analyze: Unknown option '--bogus'/);
  });

  it("exits 3 on files it cannot read and on Skiff objects that fail their schema, naming each", async () => {
    const dir = await mkdtemp(join(tmpdir(), "skiff-analyze-"));
    try {
      const invalid = join(dir, "invalid.yaml");
      await writeFile(
        invalid,
        "apiVersion: skiff.dev/v1alpha1\nkind: PeerAuthentication\nmetadata: { name: x, namespace: shop }\nspec: { mtls: { mode: SOMETIMES } }\n",
      );
      const missing = join(dir, "missing.yaml");
      const run = await analyze("-f", invalid, "-f", missing);
      assertBadInput(run, /spec\.mtls\.mode/);
      const lines = run.stderr.trim().split("\n");
      assert.equal(lines.length, 2, run.stderr);
      assert.match(lines[0]!, new RegExp(`^skiff analyze: ${missing}: no such file or directory$`));
      assert.match(
        lines[1]!,
        new RegExp(`^skiff analyze: ${invalid}: PeerAuthentication/shop/x: spec\\.mtls\\.mode: `),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("exits 3 in one line for a kubeconfig that does not exist or lacks the context", async () => {
    const dir = await mkdtemp(join(tmpdir(), "skiff-analyze-"));
    try {
      const config = join(dir, "config");
      await writeFile(
        config,
        JSON.stringify({
          apiVersion: "v1",
          kind: "Config",
          clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:1" } }],
          users: [{ name: "u", user: { token: "t" } }],
          contexts: [{ name: "only", context: { cluster: "c", user: "u" } }],
          "current-context": "only",
        }),
      );
      assertBadInput(
        await analyze("--kubeconfig", config, "--context", "nope"),
        /^skiff analyze: context "nope" is not in the kubeconfig .*\n$/,
      );
      assertBadInput(
        await analyze("--kubeconfig", join(dir, "absent")),
        /^skiff analyze: cannot read the kubeconfig .*absent: ENOENT: no such file or directory.*\n$/,
      );
      // Port 1 on loopback: fetch refuses it outright ("bad port"), and nothing listens there anyway.
      assertBadInput(
        await analyze("--kubeconfig", config, "-n", "shop"),
        /^skiff analyze: cannot reach the cluster's API server to list meshes\.skiff\.dev: .*\n$/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("prints its usage for --help and exits 0", async () => {
    const run = await analyze("--help");
    assert.equal(run.code, 0);
    assert.match(run.stdout, /^Usage: skiff analyze /);
    assert.match(run.stdout, /Exit status: 0 no findings, 1 warnings only, 2 an error, 3 bad input/);
  });
});
