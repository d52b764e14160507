import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { analyze, ANALYZERS } from "../../../src/analyze/analyze.js";
import type { Finding } from "../../../src/analyze/finding.js";
import { snapshotOf } from "../../../src/analyze/snapshot.js";
import { readInputFiles } from "../../../src/cli/input-files.js";
import { ROOT } from "../../support/skiff-cli.js";

const FIXTURES = join(ROOT, "test", "testdata", "analyze");

/** The findings of the offline engine over files, as `skiff analyze -f` computes them. */
async function findingsOf(...paths: string[]): Promise<Finding[]> {
  const { objects, problems } = await readInputFiles(paths);
  assert.deepEqual(problems, []);
  return analyze(
    snapshotOf(
      objects.map((o) => o.object),
      false,
    ),
  );
}

const summary = (findings: readonly Finding[]) =>
  findings.map((f) => `${f.code} ${f.object.kind}/${f.object.namespace ?? ""}/${f.object.name} ${f.field}`);

describe("analyze: every code has a positive and a negative fixture", () => {
  it("has 20 analyzers with distinct codes, grouped by kind", () => {
    const codes = ANALYZERS.map((a) => a.code);
    assert.equal(new Set(codes).size, codes.length);
    assert.equal(codes.length, 20);
    for (const code of codes) assert.match(code, /^SKF0[1-5]0[0-9]$/);
    assert.deepEqual(readdirSync(FIXTURES).sort(), [...codes].sort());
  });

  for (const analyzer of ANALYZERS) {
    describe(`${analyzer.code} ${analyzer.name}`, () => {
      const dir = join(FIXTURES, analyzer.code);

      it("finds it in the positive fixture, and nothing else", async () => {
        const findings = await findingsOf(join(dir, "positive.yaml"));
        assert.ok(findings.length > 0, `no finding in ${analyzer.code}/positive.yaml`);
        for (const f of findings) {
          assert.equal(f.code, analyzer.code, summary(findings).join("\n"));
          assert.equal(f.severity, analyzer.severity);
          assert.equal(f.fix, analyzer.fix);
          assert.equal(f.docs, `docs/analyze.md#${analyzer.code.toLowerCase()}`);
          assert.ok(f.message.length > 0 && !f.message.includes("\n"));
          assert.match(f.field, /^(spec|status)/);
        }
      });

      it("finds nothing in the negative fixture", async () => {
        assert.deepEqual(summary(await findingsOf(join(dir, "negative.yaml"))), []);
      });

      it("is documented in docs/analyze.md with its severity and fix", () => {
        const docs = readFileSync(join(ROOT, "docs", "analyze.md"), "utf8");
        const heading = `### ${analyzer.code} ${analyzer.name}`;
        assert.ok(docs.includes(heading), `docs/analyze.md lacks "${heading}"`);
        const section = docs.slice(docs.indexOf(heading)).split("\n### ")[0]!;
        assert.ok(
          section.includes(`Severity: ${analyzer.severity}`),
          `${analyzer.code}: severity not documented`,
        );
        assert.ok(section.includes(analyzer.fix), `${analyzer.code}: fix not documented as the CLI gives it`);
      });
    });
  }
});

describe("analyze: no false positives", () => {
  it("finds nothing in config/samples, together or each kustomization alone", async () => {
    const samples = join(ROOT, "config", "samples");
    assert.deepEqual(summary(await findingsOf(samples)), []);
    const top = readdirSync(samples)
      .filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml")
      .map((f) => join(samples, f));
    assert.deepEqual(summary(await findingsOf(...top)), []);
    assert.deepEqual(summary(await findingsOf(join(samples, "demo"))), []);
    assert.deepEqual(summary(await findingsOf(join(samples, "sidecar-demo"))), []);
  });

  it("finds nothing in simulate's fixtures", async () => {
    for (const name of ["bookinfo", "proxyless", "redirect", "remote-ip"])
      assert.deepEqual(summary(await findingsOf(join(ROOT, "test", "testdata", "simulate", name))), [], name);
  });

  /**
   * translate's golden cases (base.yaml and one case) are valid objects, but
   * a few show a problem on purpose: those findings, and only those.
   */
  it("finds in translate's cases exactly the problems they show on purpose", async () => {
    const expected: Record<string, string[]> = {
      "authorization-inbound.yaml": ["SKF0301 AuthorizationPolicy/bookinfo/other-app spec.selector"],
      "conflict-and-missing-target.yaml": [
        "SKF0101 TrafficPolicy/bookinfo/ghost spec.targetRef.name",
        "SKF0103 TrafficPolicy/bookinfo/reviews-new spec.targetRef",
      ],
      // legacy-old predates the namespace's label: the case is about that Pod.
      "mtls-sidecarless-pods.yaml": ["SKF0402 Pod/bookinfo/legacy-old spec.containers"],
      "subset-without-endpoints.yaml": ["SKF0102 TrafficPolicy/bookinfo/reviews spec.subsets"],
      // DNS over TCP, named dns-tcp: Istio's convention flags it too (IST0118).
      "udp-ports.yaml": ["SKF0501 Service/bookinfo/edge spec.ports[3]"],
    };
    const translate = join(ROOT, "test", "testdata", "translate");
    const cases = readdirSync(join(translate, "in")).filter((f) => f.endsWith(".yaml"));
    assert.ok(cases.length > 40);
    for (const name of cases) {
      const file = join(translate, "in", name);
      if (!readFileSync(file, "utf8").includes("kind:")) continue; // no-policy.yaml: comments only
      assert.deepEqual(
        summary(await findingsOf(join(translate, "base.yaml"), file)),
        expected[name] ?? [],
        name,
      );
    }
    for (const name of Object.keys(expected)) assert.ok(existsSync(join(translate, "in", name)), name);
  });
});
