import assert from "node:assert/strict";
import { crdManifest, crdSchema } from "../../../src/api/crd.js";
import type { Schema } from "../../../src/api/schema.js";
import { CRDS } from "../../../src/api/v1alpha1/index.js";

/** Visits every schema node with its field path. */
function walk(schema: Schema, path: string, visit: (node: Schema, path: string) => void): void {
  visit(schema, path);
  for (const [name, child] of Object.entries(schema.properties ?? {})) walk(child, `${path}.${name}`, visit);
  if (schema.items) walk(schema.items, `${path}[]`, visit);
  if (typeof schema.additionalProperties === "object") walk(schema.additionalProperties, `${path}{}`, visit);
}

describe("the v1alpha1 API schemas", () => {
  for (const crd of CRDS) {
    describe(crd.kind, () => {
      const schema = crdSchema(crd);

      it("describes every field, so kubectl explain teaches the API", () => {
        const undocumented: string[] = [];
        walk(schema, crd.kind, (node, path) => {
          if (path === `${crd.kind}.metadata`) return; // the API server documents metadata itself
          if (!node.description || node.description.trim().length < 8) undocumented.push(path);
        });
        assert.deepEqual(undocumented, []);
      });

      it("is structural: every node has a type, every object says what it holds", () => {
        const problems: string[] = [];
        walk(schema, crd.kind, (node, path) => {
          if (!node.type && !node["x-kubernetes-int-or-string"]) problems.push(`${path}: no type`);
          if (node.type === "array" && !node.items) problems.push(`${path}: array without items`);
          if (
            node.type === "object" &&
            path !== `${crd.kind}.metadata` &&
            !node.properties &&
            !node.additionalProperties
          ) {
            problems.push(`${path}: object with neither properties nor additionalProperties`);
          }
        });
        assert.deepEqual(problems, []);
      });

      it("bounds every list and map, which keeps CEL costs within the API server's budget", () => {
        const unbounded: string[] = [];
        walk(schema, crd.kind, (node, path) => {
          if (node.type === "array" && node.maxItems === undefined) unbounded.push(path);
          if (node.type === "array" && !node["x-kubernetes-list-type"])
            unbounded.push(`${path} (no list type)`);
          if (node.additionalProperties && node.maxProperties === undefined) unbounded.push(path);
        });
        assert.deepEqual(unbounded, []);
      });

      it("has the API's short name, the skiff category and a status subresource", () => {
        const manifest = crdManifest(crd) as {
          spec: {
            names: { shortNames: string[]; categories: string[] };
            versions: { subresources: unknown }[];
          };
        };
        const expected: Record<string, string> = {
          Mesh: "mesh",
          TrafficPolicy: "tp",
          PeerAuthentication: "pa",
          AuthorizationPolicy: "ap",
        };
        assert.deepEqual(manifest.spec.names.shortNames, [expected[crd.kind]]);
        assert.deepEqual(manifest.spec.names.categories, ["skiff"]);
        assert.deepEqual(manifest.spec.versions[0]!.subresources, { status: {} });
      });

      it("prints its key fields, then Ready or Accepted, Reason and Age", () => {
        const names = crd.printerColumns.map((c) => c.name);
        assert.ok(names.includes("Ready") || names.includes("Accepted"), names.join(","));
        assert.deepEqual(names.slice(-2), ["Reason", "Age"]);
        assert.ok(names.length >= 4);
      });
    });
  }
});
