/**
 * A webhook server in a process of its own, for tests that must see whether
 * a request ends the process (an unhandled rejection does, as in the
 * operator). It serves the real /validate handler, talking to the API
 * server at SKIFF_TEST_API_SERVER, and /echo, whose handler throws what the
 * object's `throw` asks for. It prints one JSON line: its port and CA.
 */
import { KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { RestClient } from "../../../src/k8s/rest.js";
import { renewTls } from "../../../src/webhook/certificates.js";
import { AdmissionServer } from "../../../src/webhook/server.js";
import { validateTrafficPolicy } from "../../../src/webhook/validate-trafficpolicy.js";

const kubeConfig = new KubeConfig();
kubeConfig.loadFromOptions({
  clusters: [{ name: "fake", server: process.env.SKIFF_TEST_API_SERVER!, skipTLSVerify: true }],
  users: [{ name: "fake" }],
  contexts: [{ name: "fake", cluster: "fake", user: "fake" }],
  currentContext: "fake",
});
const rest = new RestClient(kubeConfig, 5_000);
const tls = await renewTls(undefined, "new-ca", ["127.0.0.1"], new Date());
const server = new AdmissionServer(
  tls,
  {
    "/validate": (request) => validateTrafficPolicy(rest, request),
    "/echo": async (request) => {
      const object = request.object as { throw?: unknown; wait?: number } | undefined;
      if (object?.wait) await new Promise((resolve) => setTimeout(resolve, object.wait));
      if (object && "throw" in object)
        throw object.throw === "error"
          ? new Error("asked to")
          : object.throw === "undefined"
            ? undefined
            : object.throw;
      return { allowed: true, warnings: [`kind ${request.kind.kind}`] };
    },
  },
  pino({ level: process.env.SKIFF_TEST_LOG_LEVEL ?? "silent" }, pino.destination(2)),
);
const port = await server.listen("127.0.0.1", 0);
process.stdout.write(JSON.stringify({ port, ca: tls.caBundlePem }) + "\n");
