import assert from "node:assert/strict";
import { join } from "node:path";
import { compile } from "../../../../src/compile/compile.js";
import type { ClusterState } from "../../../../src/compile/state.js";
import type { EffectiveMtlsMode } from "../../../../src/ir/security.js";
import { mtlsDecision } from "../../../../src/policy/mtls.js";
import { VIRTUAL_INBOUND } from "../../../../src/xds/translate/names.js";
import { translate } from "../../../../src/xds/translate/translate.js";
import { clusterStateFromFiles } from "../../../support/cluster-state.js";

/**
 * STRICT holds on every inbound port of a sidecar, whatever the Pod's
 * readiness and whether or not a Service targets the port (issue 16, item 4).
 * A sidecar's served ports came from the Services listing the Pod as a
 * *ready* endpoint, so while a Pod was not Ready its ports fell to the
 * passthrough default chain, and so did every port no Service targets: both
 * took plaintext under STRICT. Istio applies the workload's mode on every
 * inbound port, port-level settings included.
 *
 * The tests ask which of virtualInbound's filter chains a connection meets,
 * matching as Envoy does (destination port, then transport protocol, then
 * the default chain), and what that chain does with it.
 */
const DATA = join(import.meta.dirname, "..", "..", "..", "testdata", "translate");
const state = (...cases: string[]) =>
  clusterStateFromFiles(join(DATA, "base.yaml"), ...cases.map((c) => join(DATA, "in", `${c}.yaml`)));

interface Chain {
  name?: string;
  filter_chain_match?: { destination_port?: number; transport_protocol?: string };
  transport_socket?: unknown;
  filters: { name: string }[];
}
interface InboundListener {
  filter_chains?: Chain[];
  default_filter_chain: Chain;
}

/** What the tests read of a chain's DownstreamTlsContext. */
interface DownstreamTls {
  require_client_certificate?: boolean;
  common_tls_context: { combined_validation_context?: { default_validation_context?: unknown } };
}

type Transport = "tls" | "raw_buffer";
/** refused: closed unread; mtls: mesh mTLS terminated (client certificate required); passed: reaches the application as sent. */
type Outcome = "refused" | "mtls" | "passed";

function inboundListener(s: ClusterState, workload: string): InboundListener {
  const listener = translate(compile(s).model)
    .inbound.get(workload)
    ?.find((r) => r.name === VIRTUAL_INBOUND);
  assert.ok(listener, `${workload} has no virtualInbound`);
  return listener.json as unknown as InboundListener;
}

/** Envoy's filter chain match, as far as virtualInbound's chains use it. */
function chainFor(listener: InboundListener, port: number, transport: Transport): Chain {
  const chains = listener.filter_chains ?? [];
  const byPort = chains.filter((c) => c.filter_chain_match?.destination_port === port);
  const portLevel =
    byPort.length > 0 ? byPort : chains.filter((c) => !c.filter_chain_match?.destination_port);
  const byTransport = portLevel.filter((c) => c.filter_chain_match?.transport_protocol === transport);
  const matched =
    byTransport.length > 0 ? byTransport : portLevel.filter((c) => !c.filter_chain_match?.transport_protocol);
  assert.ok(matched.length <= 1, `port ${port} ${transport}: ${matched.map((c) => c.name).join(", ")}`);
  return matched[0] ?? listener.default_filter_chain;
}

function outcome(listener: InboundListener, port: number, transport: Transport): Outcome {
  const chain = chainFor(listener, port, transport);
  if (chain.filters.some((f) => f.name === "envoy.filters.network.direct_response")) return "refused";
  return chain.transport_socket ? "mtls" : "passed";
}

describe("inbound mTLS on every port", () => {
  describe("a Pod that is not Ready", () => {
    const unready = state("mtls-strict-unready");

    it("is left out of the Service's endpoints that clients get", () => {
      const reviews = compile(unready).model.services.find((s) => s.name === "reviews")!;
      assert.deepEqual(
        reviews.endpoints.map((e) => e.address),
        ["10.1.0.1", "10.1.0.2"],
      );
    });

    it("under STRICT, still has its Service port's mTLS chain and refuses plaintext there", () => {
      const listener = inboundListener(unready, "bookinfo/reviews-v3");
      assert.equal(chainFor(listener, 9080, "tls").name, "inbound|9080||mtls");
      assert.equal(chainFor(listener, 9080, "raw_buffer").name, "inbound|9080||plaintext-denied");
      assert.equal(outcome(listener, 9080, "raw_buffer"), "refused");
      assert.equal(outcome(listener, 9080, "tls"), "mtls");
    });

    it("under PERMISSIVE, serves its Service port (its policies apply) rather than passing it through", () => {
      const permissive = {
        ...unready,
        peerAuthentications: unready.peerAuthentications.map((p) => ({
          ...p,
          spec: { ...p.spec, mtls: { mode: "PERMISSIVE" as const } },
        })),
      };
      const listener = inboundListener(permissive, "bookinfo/reviews-v3");
      assert.equal(chainFor(listener, 9080, "raw_buffer").name, "inbound|9080||");
      assert.equal(chainFor(listener, 9080, "tls").name, "inbound|9080||mtls");
    });
  });

  describe("a port that no Service targets", () => {
    it("refuses plaintext under STRICT, and terminates mTLS to the original destination", () => {
      const listener = inboundListener(state("mtls-strict-namespace"), "bookinfo/reviews-v1");
      assert.equal(outcome(listener, 15000, "raw_buffer"), "refused");
      assert.equal(outcome(listener, 15000, "tls"), "mtls");
      const tls = chainFor(listener, 15000, "tls");
      assert.equal(tls.name, "InboundPassthroughCluster|mtls");
      // reviews' AuthorizationPolicy (an ALLOW) holds here too, before the forwarding.
      assert.deepEqual(
        tls.filters.map((f) => f.name),
        ["envoy.filters.network.rbac.allow", "envoy.filters.network.tcp_proxy"],
      );
    });

    it("passes plaintext and TLS through untouched under PERMISSIVE and DISABLE", () => {
      for (const input of ["mtls-permissive-default", "mtls-port-level"]) {
        const listener = inboundListener(state(input), "bookinfo/reviews-v1");
        assert.equal(outcome(listener, 15000, "raw_buffer"), "passed", input);
        assert.equal(outcome(listener, 15000, "tls"), "passed", input);
      }
    });

    it("follows portLevelMtls there, STRICT in a PERMISSIVE workload and DISABLE in a STRICT one", () => {
      const s = state("mtls-passthrough-port-level");
      const v1 = inboundListener(s, "bookinfo/reviews-v1");
      assert.equal(outcome(v1, 9443, "raw_buffer"), "refused");
      assert.equal(outcome(v1, 9443, "tls"), "mtls");
      assert.equal(outcome(v1, 15000, "raw_buffer"), "passed");
      const v2 = inboundListener(s, "bookinfo/reviews-v2");
      assert.equal(outcome(v2, 9901, "raw_buffer"), "passed");
      assert.equal(outcome(v2, 9901, "tls"), "passed");
      assert.equal(outcome(v2, 15000, "raw_buffer"), "refused");
      assert.equal(outcome(v2, 9080, "raw_buffer"), "passed");
      assert.equal(outcome(v2, 9080, "tls"), "mtls");
    });
  });

  /**
   * A root in the trust bundle may vouch for more than this mesh (a root
   * shared with another trust domain, one being rotated in), so the chain
   * alone proves nothing about the peer: like Istio's inbound, every chain
   * that terminates mTLS also requires a URI SAN under
   * `spiffe://<trustDomain>/`. Without it a certificate naming
   * spiffe://other.domain/... from the mesh's own CA was accepted
   * (test/e2e/mtls.test.ts proves the refusal on a real sidecar).
   */
  it("terminates mTLS only for SPIFFE IDs of the mesh's trust domain", () => {
    const base = state("mtls-passthrough-port-level");
    const s: ClusterState = {
      ...base,
      mesh: { ...base.mesh!, spec: { ...base.mesh?.spec, trustDomain: "example.org" } },
    };
    const tlsChains = (inboundListener(s, "bookinfo/reviews-v1").filter_chains ?? []).filter(
      (c) => c.transport_socket,
    );
    // Served ports' mTLS chains and the passthrough's port-level one.
    assert.ok(tlsChains.length >= 2, tlsChains.map((c) => c.name).join(", "));
    for (const chain of tlsChains) {
      const context = (chain.transport_socket as { typed_config: DownstreamTls }).typed_config;
      assert.equal(context.require_client_certificate, true, chain.name);
      assert.deepEqual(
        context.common_tls_context.combined_validation_context?.default_validation_context,
        {
          match_typed_subject_alt_names: [{ san_type: "URI", matcher: { prefix: "spiffe://example.org/" } }],
        },
        chain.name,
      );
    }
  });

  /**
   * Against the reference evaluator (what `skiff simulate` uses): on every
   * sidecar, for served ports, port-level ports and a port nothing names,
   * plaintext is refused exactly where the effective mode is STRICT, and
   * mTLS is terminated wherever STRICT, or PERMISSIVE on a served port.
   */
  it("agrees with the reference evaluator on every port of every sidecar", () => {
    const inputs = [
      "mtls-strict-unready",
      "mtls-strict-namespace",
      "mtls-passthrough-port-level",
      "mtls-port-level",
      "mtls-permissive-default",
      "mtls-mixed-endpoints",
    ];
    let checked = 0;
    for (const input of inputs) {
      const s = state(input);
      const { model, security } = compile(s);
      for (const workload of model.workloads.filter((w) => w.dataPlane === "sidecar")) {
        const listener = inboundListener(s, workload.key);
        const served = new Set(
          (listener.filter_chains ?? [])
            .filter((c) => c.name?.startsWith("inbound|"))
            .map((c) => c.filter_chain_match!.destination_port!),
        );
        const [namespace = ""] = workload.key.split("/");
        const ports = [...Object.keys(workload.mtls.portModes).map(Number), 15000, 31337];
        for (const port of ports) {
          const mode: EffectiveMtlsMode = mtlsDecision(
            security.peerAuthentications,
            security.rootNamespace,
            { namespace, labels: workload.labels },
            port,
            security.defaultMtlsMode,
          ).mode;
          const where = `${input} ${workload.key}:${port} (${mode})`;
          assert.equal(outcome(listener, port, "raw_buffer") === "refused", mode === "STRICT", where);
          assert.equal(
            outcome(listener, port, "tls") === "mtls",
            mode === "STRICT" || (mode === "PERMISSIVE" && served.has(port)),
            where,
          );
          checked++;
        }
      }
    }
    assert.ok(checked > 20, `${checked} ports checked`);
  });
});
