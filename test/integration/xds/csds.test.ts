import assert from "node:assert/strict";
import { create, fromBinary, toBinary, type JsonObject } from "@bufbuild/protobuf";
import { Client, credentials, Metadata, status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { pino } from "pino";
import { csdsRequests } from "../../../src/observability/metrics.js";
import { messageToJson, messageType } from "../../../src/xds/protos/registry.js";
import { LISTENER_TYPE } from "../../../src/xds/translate/resource.js";
import { startXdsServer, type RunningXdsServer } from "../../../src/xds/xds-server.js";
import { SotwClient } from "../../support/ads-client.js";
import { makeClient } from "../../support/grpc/xds-client.js";
import { serviceAccountToken } from "../../support/mesh-test-kit.js";
import { controlPlane } from "../controlplane.fixture.js";
import { eventually, kubectlOk } from "../kubectl.js";

/**
 * CSDS on the xDS server, read by a plain grpc-js client with the messages
 * from the descriptor set, about a real grpc-js-xds client (in sync) and an
 * ADS client that NACKs, as the server saw them. Only a ServiceAccount that
 * may `get` Meshes is answered.
 */
const NS = "csds";
const READER_ROLE = "skiff-csds-test-mesh-reader";
const LISTENER = `reviews.${NS}.svc.cluster.local:9080`;
const CSDS = "/envoy.service.status.v3.ClientStatusDiscoveryService";
const REQUEST = messageType("envoy.service.status.v3.ClientStatusRequest");
const RESPONSE = messageType("envoy.service.status.v3.ClientStatusResponse");

interface GenericXdsConfig {
  typeUrl: string;
  name: string;
  versionInfo?: string;
  xdsConfig?: { "@type": string; name?: string };
  lastUpdated?: string;
  configStatus?: string;
  clientStatus?: string;
  errorState?: { details?: string; versionInfo?: string; lastUpdateAttempt?: string };
}
interface ClientConfig {
  node: { id: string; metadata?: JsonObject };
  genericXdsConfigs?: GenericXdsConfig[];
}

describe("CSDS: what each connected proxy was sent and answered, for the mesh's operators", function () {
  this.timeout(90_000);
  let xds: RunningXdsServer;
  let address: string;
  let operatorToken: string;
  let workloadToken: string;
  let csdsClient: Client;
  let grpcClient: ReturnType<typeof makeClient> | undefined;
  let nacker: SotwClient | undefined;

  const withToken = (token?: string) => {
    const metadata = new Metadata();
    if (token) metadata.set("authorization", `Bearer ${token}`);
    return metadata;
  };
  const requestBytes = (init: object = {}) => Buffer.from(toBinary(REQUEST, create(REQUEST, init as never)));
  const decoded = (bytes: Buffer) =>
    (messageToJson(RESPONSE.typeName, fromBinary(RESPONSE, bytes)) as { config?: ClientConfig[] }).config ??
    [];

  const fetch = (token: string | undefined, init: object = {}) =>
    new Promise<ClientConfig[]>((resolve, reject) =>
      csdsClient.makeUnaryRequest(
        `${CSDS}/FetchClientStatus`,
        (b: Buffer) => b,
        (b: Buffer) => b,
        requestBytes(init),
        withToken(token),
        (err, response) => (err ? reject(err) : resolve(decoded(response!))),
      ),
    );
  const refusal = async (token: string | undefined) => {
    const err = await fetch(token).then(
      () => assert.fail("answered"),
      (e: ServiceError) => e,
    );
    return [GrpcStatus[err.code], err.details] as const;
  };
  const answered = async (outcome: string) =>
    (await csdsRequests.get()).values.find((v) => v.labels["outcome"] === outcome)?.value ?? 0;

  before(async () => {
    await kubectlOk(["create", "namespace", NS]);
    await kubectlOk(["create", "serviceaccount", "-n", NS, "operator"]);
    await kubectlOk(["create", "serviceaccount", "-n", NS, "workload"]);
    await kubectlOk(["create", "clusterrole", READER_ROLE, "--verb=get", "--resource=meshes.skiff.dev"]);
    await kubectlOk([
      "create",
      "clusterrolebinding",
      READER_ROLE,
      `--clusterrole=${READER_ROLE}`,
      `--serviceaccount=${NS}:operator`,
    ]);
    await kubectlOk(["create", "service", "clusterip", "reviews", "-n", NS, "--tcp=9080:9080"]);
    const kubeConfig = controlPlane().kubeConfig();
    operatorToken = await serviceAccountToken(kubeConfig, NS, "operator");
    workloadToken = await serviceAccountToken(kubeConfig, NS, "workload");
    xds = await startXdsServer(kubeConfig, {
      security: { mode: "insecure" },
      address: "127.0.0.1:0",
      logger: pino({ level: process.env.LOG_LEVEL ?? "silent" }),
      caNamespace: NS,
    });
    address = `127.0.0.1:${xds.port}`;
    csdsClient = new Client(address, credentials.createInsecure());
  });

  after(async () => {
    grpcClient?.close();
    nacker?.close();
    csdsClient?.close();
    await xds?.stop();
    await kubectlOk(["delete", "clusterrolebinding,clusterrole", READER_ROLE, "--ignore-not-found"]);
    await kubectlOk(["delete", "namespace", NS, "--wait=false"]);
  });

  it("reports a grpc-js-xds client in sync, and a NACK with the proxy's error detail", async () => {
    // A real proxyless client: resolving the target makes it subscribe to LDS, RDS, CDS and EDS.
    grpcClient = makeClient({ target: `xds:///${LISTENER}`, xdsServer: address, nodeId: "grpc~csds-client" });
    grpcClient.getChannel().getConnectivityState(true);
    nacker = new SotwClient(address, { id: "grpc~csds-nacker", metadata: { GENERATOR: "grpc" } });
    nacker.request({ typeUrl: LISTENER_TYPE, resourceNames: [LISTENER] });
    const listeners = await nacker.next();
    nacker.nack(listeners, "listener rejected by the test proxy");

    await eventually(async () => {
      const configs = await fetch(operatorToken);
      const client = configs.find((c) => c.node.id === "grpc~csds-client");
      assert.ok(
        client,
        `the grpc-js-xds client is reported: ${JSON.stringify(configs.map((c) => c.node.id))}`,
      );
      assert.equal(client.node.metadata?.["SKIFF_PROXY_KIND"], "proxyless");
      const types = new Set(client.genericXdsConfigs?.map((c) => c.typeUrl.split(".").at(-1)));
      assert.deepEqual(
        [...types].sort(),
        ["ClusterLoadAssignment", "Listener", "RouteConfiguration", "Cluster"].sort(),
      );
      for (const entry of client.genericXdsConfigs ?? [])
        assert.deepEqual(
          [entry.name, entry.configStatus, entry.clientStatus],
          [entry.name, "SYNCED", "ACKED"],
        );
      const listener = client.genericXdsConfigs!.find((c) => c.typeUrl === LISTENER_TYPE)!;
      assert.equal(listener.name, LISTENER);
      assert.equal(listener.xdsConfig?.["@type"], LISTENER_TYPE);
      assert.equal(listener.xdsConfig?.name, LISTENER, "the resource as it was sent");
      assert.ok(listener.versionInfo, "a version");
      assert.ok(listener.lastUpdated, "the time of the ACK");
    });

    const [rejected] = await fetch(operatorToken, {
      nodeMatchers: [{ nodeId: { matchPattern: { case: "exact", value: "grpc~csds-nacker" } } }],
    });
    assert.equal(rejected?.node.id, "grpc~csds-nacker", "node_matchers select one proxy");
    assert.deepEqual(
      rejected.genericXdsConfigs?.map((c) => [c.name, c.configStatus, c.clientStatus, c.errorState?.details]),
      [[LISTENER, "ERROR", "NACKED", "listener rejected by the test proxy"]],
    );
    const error = rejected.genericXdsConfigs![0]!.errorState!;
    assert.equal(error.versionInfo, listeners.versionInfo, "the version the proxy rejected");
    assert.ok(error.lastUpdateAttempt);
  });

  it("reports a response the proxy has not answered yet as STALE", async () => {
    const slow = new SotwClient(address, { id: "grpc~csds-slow", metadata: { GENERATOR: "grpc" } });
    try {
      slow.request({ typeUrl: LISTENER_TYPE, resourceNames: [LISTENER] });
      const sent = await slow.next();
      const [config] = await fetch(operatorToken, {
        nodeMatchers: [{ nodeId: { matchPattern: { case: "exact", value: "grpc~csds-slow" } } }],
      });
      assert.deepEqual(
        config?.genericXdsConfigs?.map((c) => [c.name, c.configStatus, c.clientStatus, c.versionInfo]),
        [[LISTENER, "STALE", "REQUESTED", sent.versionInfo]],
      );
      slow.ack(sent);
      await eventually(async () => {
        const [acked] = await fetch(operatorToken, {
          nodeMatchers: [{ nodeId: { matchPattern: { case: "exact", value: "grpc~csds-slow" } } }],
        });
        assert.equal(acked?.genericXdsConfigs?.[0]?.configStatus, "SYNCED");
      });
    } finally {
      slow.close();
    }
  });

  it("refuses a node matcher it cannot apply rather than answering about every proxy", async () => {
    const err = await fetch(operatorToken, {
      nodeMatchers: [{ nodeId: { matchPattern: { case: "safeRegex", value: { regex: ".*" } } } }],
    }).then(
      () => assert.fail("answered"),
      (e: ServiceError) => e,
    );
    assert.equal(GrpcStatus[err.code], "INVALID_ARGUMENT");
    assert.match(err.details, /safeRegex/);
  });

  it("answers each request of a StreamClientStatus", async () => {
    const stream = csdsClient.makeBidiStreamRequest(
      `${CSDS}/StreamClientStatus`,
      (b: Buffer) => b,
      (b: Buffer) => b,
      withToken(operatorToken),
    );
    const responses: ClientConfig[][] = [];
    const done = new Promise<void>((resolve, reject) => {
      stream.on("data", (bytes: Buffer) => {
        responses.push(decoded(bytes));
        if (responses.length === 2) stream.end();
      });
      stream.on("error", reject);
      stream.on("status", () => resolve());
    });
    stream.write(requestBytes());
    stream.write(
      requestBytes({
        nodeMatchers: [{ nodeId: { matchPattern: { case: "prefix", value: "grpc~csds-n" } } }],
      }),
    );
    await done;
    assert.ok(responses[0]!.length >= 2);
    assert.deepEqual(
      responses[1]!.map((c) => c.node.id),
      ["grpc~csds-nacker"],
    );
  });

  it("refuses callers that are not the mesh's operators, and counts them", async () => {
    const [deniedBefore, unauthenticatedBefore] = [
      await answered("permission_denied"),
      await answered("unauthenticated"),
    ];
    const [code, details] = await refusal(workloadToken);
    assert.equal(code, "PERMISSION_DENIED");
    assert.match(details, new RegExp(`system:serviceaccount:${NS}:workload may not get meshes.skiff.dev`));
    assert.equal((await refusal(undefined))[0], "UNAUTHENTICATED");
    assert.equal((await refusal("not-a-token"))[0], "UNAUTHENTICATED");
    const stream = csdsClient.makeBidiStreamRequest(
      `${CSDS}/StreamClientStatus`,
      (b: Buffer) => b,
      (b: Buffer) => b,
      withToken(workloadToken),
    );
    const streamRefusal = new Promise<ServiceError>((resolve, reject) => {
      stream.on("data", () => reject(new Error("answered")));
      stream.on("error", resolve);
    });
    stream.write(requestBytes({ excludeResourceContents: true }));
    assert.equal(GrpcStatus[(await streamRefusal).code], "PERMISSION_DENIED", "a stream is refused too");
    assert.equal(await answered("permission_denied"), deniedBefore + 2);
    assert.equal(await answered("unauthenticated"), unauthenticatedBefore + 2);
  });
});
