import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { JsonObject } from "@bufbuild/protobuf";
import fc from "fast-check";
import type { AuthorizationPolicyModel } from "../../../src/ir/security.js";
import { appliesTo, authorize } from "../../../src/policy/authorization.js";
import { encodeJson } from "../../../src/xds/protos/registry.js";
import { rbacFilters } from "../../../src/xds/translate/authorization.js";
import {
  ANY_ADDRESS_POOLS,
  evaluatorRequest,
  policiesArb,
  requestArb,
  ROOT_NAMESPACE as ROOT,
  WORKLOAD,
  type GeneratedRequest,
} from "../../support/arbitrary-authorization.js";

/**
 * Differential test: our reference evaluator (src/policy/authorization.ts)
 * against a real RBAC engine, gRPC's (@grpc/grpc-js-xds 1.14.1), running
 * our translation (src/xds/translate/authorization.ts) of random policy sets
 * on random requests.
 *
 * The engine gets its config exactly as a proxyless gRPC server would: our
 * RBAC JSON is encoded to protobuf bytes with encodeJson, wrapped in an Any
 * and handed to grpc-js-xds's own HTTP filter parser (its bundled protos,
 * its proto-loader options). For TCP, which grpc-js-xds has no filter for,
 * the network RBAC message is decoded with the same loader and options over
 * the same bundled protos, and its `rules` go to the same `parseConfig`.
 * The filters run in order, and a request is allowed when every filter
 * accepts it, as in a filter chain.
 *
 * What the generator leaves out, and why (each is a limit of gRPC's engine
 * or of its request model, not a difference in semantics we accept):
 * - No SNI: gRPC's engine matches `requested_server_name` against "" always,
 *   so requests carry none (and every SNI matcher we emit fails on "", as it
 *   fails on an absent SNI in the evaluator).
 * - remote.ip equals source.ip: gRPC maps `remote_ip` to the peer address,
 *   as Envoy does without trusted proxies; the evaluator's default is the same.
 * - Paths carry no query string: gRPC's urlPath is a method path that never
 *   has one, so the engine does not strip it as Envoy's url_path does.
 * - No `content-type` or `-bin` headers and no repeated headers: gRPC fixes
 *   content-type to application/grpc and never matches `-bin` headers; header
 *   values are printable ASCII, as gRPC metadata requires.
 * - Principals are well-formed SPIFFE identities (`<td>/ns/<ns>/sa/<sa>`,
 *   names without `/`), as Kubernetes issues them; the namespace regex and
 *   the evaluator's namespace extraction differ only for malformed ones.
 */

const require = createRequire(import.meta.url);
const XDS = dirname(require.resolve("@grpc/grpc-js-xds/package.json"));
const xdsRequire = createRequire(join(XDS, "package.json"));

interface RbacGroup {
  apply(info: unknown): boolean;
}
interface Metadata {
  set(key: string, value: string): void;
}

/** grpc-js-xds's HTTP filter registry, with its RBAC filter registered as GRPC_XDS_EXPERIMENTAL_RBAC=true does. */
function grpcEngine() {
  // proto-loader's entry point registers the google/protobuf descriptors that
  // the filter's loader needs; grpc-js-xds's own index loads it first too.
  xdsRequire("@grpc/proto-loader");
  // Test-harness workaround, no change in semantics: re2-wasm has a fixed
  // 16 MiB heap and never frees a compiled RE2, so thousands of parsed
  // configs run it out of memory. The engine's regexes (flag "u" only) are
  // stateless for test(), so identical ones can share one instance.
  const re2 = xdsRequire("re2-wasm") as { RE2: new (pattern: string, flags?: string) => object };
  const cache = new Map<string, object>();
  re2.RE2 = new Proxy(re2.RE2, {
    construct(target, args: [string, string?]) {
      const key = JSON.stringify(args);
      let instance = cache.get(key);
      if (!instance) cache.set(key, (instance = new target(...args)));
      return instance;
    },
  });
  const environment = xdsRequire("./build/src/environment.js") as { EXPERIMENTAL_RBAC: boolean };
  environment.EXPERIMENTAL_RBAC = true;
  (xdsRequire("./build/src/http-filter/rbac-filter.js") as { setup(): void }).setup();
  const httpFilter = xdsRequire("./build/src/http-filter.js") as {
    parseTopLevelFilterConfig(
      any: { type_url: string; value: Buffer },
      client: boolean,
    ): {
      config: RbacGroup;
    } | null;
  };
  const rbac = xdsRequire("./build/src/rbac.js") as { parseConfig(rules: unknown): RbacGroup };
  const { loadProtosWithOptionsSync } = xdsRequire("@grpc/proto-loader/build/src/util") as {
    loadProtosWithOptionsSync(
      files: string[],
      options: object,
    ): {
      lookup(name: string): {
        decode(b: Uint8Array): { $type: { toObject(m: unknown, o: object): unknown } };
      };
    };
  };
  const deps = join(XDS, "deps");
  const root = loadProtosWithOptionsSync(["envoy/extensions/filters/network/rbac/v3/rbac.proto"], {
    keepCase: true,
    includeDirs: ["xds", "envoy-api", "protoc-gen-validate", "googleapis"].map((d) => join(deps, d)),
  });
  const toObjectOptions = { longs: String, enums: String, defaults: true, oneofs: true };
  const { Metadata } = xdsRequire("@grpc/grpc-js") as { Metadata: new () => Metadata };

  /** One filter's decision function, from our filter entry as a proxy receives it (bytes). */
  const load = (filter: JsonObject): RbacGroup => {
    const { "@type": type, ...body } = filter.typed_config as JsonObject;
    const typeUrl = String(type);
    const name = typeUrl.replace("type.googleapis.com/", "");
    const bytes = encodeJson(name, body);
    if (name.includes(".http.")) {
      const parsed = httpFilter.parseTopLevelFilterConfig(
        { type_url: typeUrl, value: Buffer.from(bytes) },
        false,
      );
      assert.ok(parsed, "grpc-js-xds rejected the RBAC filter config");
      return parsed.config;
    }
    const message = root.lookup(name).decode(bytes);
    const decoded = message.$type.toObject(message, toObjectOptions) as { rules?: unknown };
    assert.ok(decoded.rules, "network RBAC without rules");
    return rbac.parseConfig(decoded.rules);
  };
  return { load, Metadata };
}

const policies = policiesArb(ANY_ADDRESS_POOLS);
const requests = requestArb(ANY_ADDRESS_POOLS);

// --- The comparison ----------------------------------------------------------

describe("differential: evaluator vs gRPC's RBAC engine on our translation", () => {
  const SEED = 20250611;
  const RUNS = 5000;
  const engine = grpcEngine();

  function ours(policies: AuthorizationPolicyModel[], r: GeneratedRequest): boolean {
    return authorize(policies, ROOT, WORKLOAD, evaluatorRequest(r)).decision === "ALLOW";
  }

  function theirs(policies: AuthorizationPolicyModel[], r: GeneratedRequest): boolean {
    const applying = policies.filter((p) => appliesTo(p, ROOT, WORKLOAD));
    const filters = rbacFilters(applying, { trustDomain: "cluster.local", protocol: r.protocol });
    const headers = new engine.Metadata();
    if (r.protocol === "HTTP") {
      headers.set(":method", r.method);
      headers.set(":authority", r.host);
      headers.set(":path", r.path);
      for (const [k, v] of Object.entries(r.headers)) headers.set(k, v);
    }
    const info = {
      destinationIp: r.destinationIp,
      destinationPort: r.port,
      sourceIp: r.sourceIp,
      headers,
      tls: r.principal !== null,
      peerCertificate:
        r.principal !== null ? { subjectaltname: `URI:spiffe://${r.principal}`, subject: {} } : null,
      urlPath: r.protocol === "HTTP" ? r.path : "",
    };
    return filters.every((f) => engine.load(f).apply(info));
  }

  const agree = (policies: AuthorizationPolicyModel[], r: GeneratedRequest) =>
    ours(policies, r) === theirs(policies, r);

  it(`agrees on ${RUNS} random policy sets and requests`, function () {
    this.timeout(120_000);
    let cases = 0;
    let mismatches = 0;
    let allowed = 0;
    fc.assert(
      fc.property(policies, requests, (policies, request) => {
        cases++;
        if (ours(policies, request)) allowed++;
        if (!agree(policies, request)) mismatches++;
      }),
      { numRuns: RUNS, seed: SEED },
    );
    console.log(
      `      differential: ${cases} cases, ${mismatches} mismatches (${allowed} allowed by the evaluator)`,
    );
    // Both decisions must be well represented, or the comparison proves little.
    assert.ok(allowed > cases / 10 && allowed < (cases * 9) / 10, `${allowed} of ${cases} allowed`);
    if (mismatches > 0)
      // Replays the same cases, failing on the first mismatch, and shrinks it to a minimal counterexample.
      fc.assert(
        fc.property(policies, requests, (policies, request) => agree(policies, request)),
        { numRuns: RUNS, seed: SEED },
      );
  });
});
