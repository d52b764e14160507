import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, runSkiff } from "../../support/skiff-cli.js";

const SAMPLE = join(ROOT, "config", "samples", "skiff.dev_v1alpha1_trafficpolicy.yaml");
const validate = (...args: string[]) => runSkiff("validate", ...args);

/** Each line of stderr, which must each name a file: one line per problem, no stack trace. */
const errorLines = (stderr: string) => stderr.trim().split("\n");

describe("skiff validate", function () {
  this.timeout(60_000);
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "skiff-validate-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const file = async (name: string, content: string | Uint8Array) => {
    const path = join(dir, name);
    await mkdir(join(path, ".."), { recursive: true });
    await writeFile(path, content);
    return path;
  };

  it("exits 0 on valid objects", async () => {
    const run = await validate("-f", SAMPLE);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /1 of 1 objects valid/);
  });

  for (const [name, content, expected] of [
    ["garbage.yaml", "this is not a manifest\n", /garbage\.yaml: document 1 is not a Kubernetes object/],
    ["empty.yaml", "", /empty\.yaml: no objects in the file/],
    ["comments.yaml", "# nothing here\n---\n", /comments\.yaml: no objects in the file/],
    ["unparsable.yaml", "a: [1, 2\n", /unparsable\.yaml: not valid YAML: /],
    [
      "binary.yaml",
      Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, 0x00, 0xff, 0xfe, 0x01]),
      /binary\.yaml: not a text file/,
    ],
    [
      "no-kind.yaml",
      "apiVersion: v1\nmetadata: { name: x }\n",
      /no-kind\.yaml: document 1 is not a Kubernetes object/,
    ],
  ] as const) {
    it(`exits 1 on ${name}, saying why in one line`, async () => {
      const run = await validate("-f", await file(name, content));
      assert.equal(run.code, 1, run.stdout + run.stderr);
      assert.equal(errorLines(run.stderr).length, 1, run.stderr);
      assert.match(run.stderr, expected);
    });
  }

  it("reports every bad file of a folder, still checks the good ones, and exits 1", async () => {
    const folder = join(dir, "folder");
    await file("folder/a-garbage.yaml", "just words\n");
    await file("folder/b-valid.yaml", await import("node:fs/promises").then((fs) => fs.readFile(SAMPLE)));
    await file("folder/nested/c-unparsable.yml", "key: : :\n  - x\n");
    await file("folder/notes.txt", "not YAML, not read\n");
    const run = await validate("-f", folder);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /a-garbage\.yaml: /);
    assert.match(run.stderr, /c-unparsable\.yml: /);
    assert.doesNotMatch(run.stderr, /notes\.txt/);
    assert.match(run.stdout, /1 of 1 objects valid/);
  });

  it("does not follow a symbolic link back into the folder", async () => {
    const folder = join(dir, "loop");
    await file("loop/valid.yaml", await import("node:fs/promises").then((fs) => fs.readFile(SAMPLE)));
    await symlink(folder, join(folder, "again.yaml"));
    await symlink(folder, join(folder, "again"));
    const run = await validate("-f", folder);
    assert.equal(run.code, 0, run.stderr);
  });

  it("says in one line that a missing file is missing, and exits 1", async () => {
    const run = await validate("-f", join(dir, "nothing.yaml"));
    assert.equal(run.code, 1);
    assert.deepEqual(errorLines(run.stderr), [
      `skiff validate: ${join(dir, "nothing.yaml")}: no such file or directory`,
    ]);
  });

  it("refuses a file over the 4 MiB limit quickly, naming the limit", async () => {
    const big = await file("big.yaml", "");
    await truncate(big, 4 * 1024 * 1024 + 1);
    const run = await validate("-f", big);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /big\.yaml: larger than 4 MiB, the limit for one input file/);
  });

  it("exits 2 on usage errors", async () => {
    assert.equal((await validate()).code, 2, "no -f");
    assert.equal((await validate("--frobnicate")).code, 2, "an unknown option");
    assert.equal((await validate(SAMPLE)).code, 2, "a file without -f");
    const unknown = await validate("--frobnicate");
    assert.match(unknown.stderr, /^skiff validate: Unknown option '--frobnicate'/);
  });
});
