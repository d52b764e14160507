import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validateBootstrapConfig } from "@grpc/grpc-js-xds/build/src/xds-bootstrap.js";
import { writeCertificateFiles } from "../../../src/agent/certificate-files.js";
import { grpcBootstrap } from "../../../src/agent/grpc-bootstrap.js";
import { trustOf } from "../../../src/agent/sds-client.js";
import { agentArguments } from "../../../src/cli/agent.js";
import { agentNodeId } from "../../../src/agent/node-ids.js";
import { sidecarAgentArguments } from "../../../src/cli/agent-sidecar.js";
import { encodeJson } from "../../../src/xds/protos/registry.js";
import { SECRET_TYPE } from "../../../src/xds/translate/resource.js";
import { issuerSecret } from "../../../src/xds/translate/issuer-secret.js";
import { trustBundleSecret } from "../../../src/xds/translate/identity-secrets.js";

describe("skiff agent", () => {
  describe("arguments", () => {
    it("builds the application's node id from the Pod's downward-API variables", () => {
      const parsed = agentArguments([], {
        POD_IP: "10.1.0.7",
        POD_NAME: "ratings-v1-x",
        POD_NAMESPACE: "shop",
      });
      assert.ok("nodeId" in parsed);
      assert.equal(parsed.nodeId, "sidecar~10.1.0.7~ratings-v1-x.shop~shop.svc.cluster.local");
      assert.equal(parsed.refreshSeconds, 60);
    });

    it("refuses to guess a node id, and a refresh interval that is not whole seconds", () => {
      assert.deepEqual(agentArguments([], { POD_IP: "10.1.0.7" }), {
        error: "--node-id is required unless POD_IP, POD_NAME and POD_NAMESPACE are all set",
      });
      assert.deepEqual(agentArguments(["--node-id", "n", "--refresh-seconds", "0.5"], {}), {
        error: "--refresh-seconds must be a whole number of seconds, at least 1, not '0.5'",
      });
    });

    it("dials the xDS server over TLS, checking the name it dials, unless told --insecure-xds", () => {
      const env = { POD_IP: "10.1.0.7", POD_NAME: "p", POD_NAMESPACE: "shop" };
      const secure = agentArguments([], env);
      assert.ok("xds" in secure);
      assert.deepEqual(secure.xds, {
        address: "skiff-xds.skiff-system.svc:15010",
        trustBundleFile: "/etc/skiff/trust/root-cert.pem",
        serverName: "skiff-xds.skiff-system.svc",
      });
      const insecure = agentArguments(["--insecure-xds", "--xds-address", "127.0.0.1:9"], env);
      assert.ok("xds" in insecure);
      assert.deepEqual(insecure.xds, { address: "127.0.0.1:9" });
      assert.deepEqual(agentArguments(["--xds-address", "nowhere"], env), {
        error: "--xds-address must be host:port, not 'nowhere'",
      });
    });

    it("runs Envoy with the arguments after --, and names the agent's sockets", () => {
      const env = {
        POD_IP: "10.1.0.7",
        POD_NAME: "p",
        POD_NAMESPACE: "shop",
        SKIFF_ENVOY_BINARY: "/bin/envoy",
      };
      const parsed = sidecarAgentArguments(["--xds-address", "x.svc:15010", "--", "-c", "b.json"], env);
      assert.ok("envoy" in parsed);
      assert.deepEqual(parsed.envoy, { binary: "/bin/envoy", args: ["-c", "b.json"] });
      assert.equal(parsed.agentNodeId, "skiff-agent~10.1.0.7~p.shop~shop.svc.cluster.local");
      assert.equal(parsed.runDirectory, "/var/run/skiff");
      assert.deepEqual(sidecarAgentArguments([], env), { error: "give Envoy's arguments after --" });
    });

    it("asks for the certificate lifetime that SECRET_TTL names (Istio's proxyMetadata), in whole seconds, in both agents", () => {
      const env = { POD_IP: "10.1.0.7", POD_NAME: "p", POD_NAMESPACE: "shop" };
      const agents = {
        sidecar: (e: Record<string, string | undefined>) => sidecarAgentArguments(["--", "-c", "b.json"], e),
        proxyless: (e: Record<string, string | undefined>) => agentArguments([], e),
      };
      for (const [agent, parse] of Object.entries(agents)) {
        const ttl = (value?: string) => {
          const parsed = parse({ ...env, SECRET_TTL: value });
          return "error" in parsed
            ? parsed.error
            : "help" in parsed
              ? "help"
              : parsed.certificateValiditySeconds;
        };
        assert.deepEqual(
          [ttl(), ttl(""), ttl("90s"), ttl("1h30m"), ttl("1500ms")],
          [undefined, undefined, 90, 5400, 2],
          agent,
        );
        for (const bad of ["90", "0s", "soon", "-1s"])
          assert.equal(
            ttl(bad),
            `SECRET_TTL must be a positive duration such as 1h or 90s, not '${bad}'`,
            agent,
          );
      }
    });

    it("connects under a node id of its own, so it never counts as the workload's data plane", () => {
      assert.equal(
        agentNodeId("sidecar~10.1.0.7~ratings-v1-x.shop~shop.svc.cluster.local"),
        "skiff-agent~10.1.0.7~ratings-v1-x.shop~shop.svc.cluster.local",
      );
    });
  });

  it("writes a bootstrap that grpc-js-xds accepts, with the certificate provider the translator names", () => {
    const bootstrap = grpcBootstrap({
      xdsAddress: "skiff-xds.skiff-system.svc:15010",
      nodeId: "sidecar~10.1.0.7~ratings-v1-x.shop~shop.svc.cluster.local",
      certificateDirectory: "/var/run/skiff/certs",
      refreshIntervalSeconds: 60,
    });
    const info = validateBootstrapConfig(bootstrap);
    assert.equal(info.xdsServers[0]!.server_uri, "skiff-xds.skiff-system.svc:15010");
    assert.equal(info.node.id, "sidecar~10.1.0.7~ratings-v1-x.shop~shop.svc.cluster.local");
    assert.deepEqual(Object.keys(info.certificateProviders), ["default"]);
    assert.equal(info.serverListenerResourceNameTemplate, "grpc/server?xds.resource.listening_address=%s");
  });

  it("reads the trust bundle, SPIFFE ID and signer out of an SDS response, and refuses one without them", () => {
    const roots = trustBundleSecret("ROOTS");
    const issuer = issuerSecret({ spiffeId: "spiffe://td/ns/a/sa/b", signerPem: "SIGNER" });
    const resources = [roots, issuer].map((s) => ({
      typeUrl: SECRET_TYPE,
      value: encodeJson("envoy.extensions.transport_sockets.tls.v3.Secret", s.json),
    }));
    assert.deepEqual(trustOf(resources), {
      rootCertificatesPem: "ROOTS",
      spiffeId: "spiffe://td/ns/a/sa/b",
      signerPem: "SIGNER",
    });
    assert.throws(() => trustOf(resources.slice(1)), /no trust bundle in Secret ROOTCA/);
    assert.throws(() => trustOf(resources.slice(0, 1)), /no SPIFFE ID and signer in Secret skiff-issuer/);
  });

  it("writes the files with the key readable by its owner only", async () => {
    const directory = mkdtempSync(join(tmpdir(), "skiff-agent-"));
    try {
      const certs = join(directory, "certs");
      await writeCertificateFiles(certs, {
        certificateChainPem: "CHAIN",
        privateKeyPem: "KEY",
        rootCertificatesPem: "ROOTS",
      });
      assert.equal(readFileSync(join(certs, "cert-chain.pem"), "utf8"), "CHAIN");
      assert.equal(readFileSync(join(certs, "root-cert.pem"), "utf8"), "ROOTS");
      assert.equal(statSync(join(certs, "key.pem")).mode & 0o777, 0o600);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
