import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import type { IPod } from "kubernetes-models/v1";
import { accessSync, constants, chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, createServer, type Server } from "node:net";
import { delimiter, join } from "node:path";
import type { Logger } from "pino";
import type { KubeletCredentials } from "../controlplane/controlplane.js";
import { ManagedProcess } from "../controlplane/process.js";
import { Informer } from "../k8s/informer.js";
import { applyManifests } from "../k8s/manifests.js";
import { apiPath, KubernetesApiError, RestClient } from "../k8s/rest.js";
import { closedAncestor, localImageTable, type LocalPrograms } from "./image-table.js";
import type { ImageTable } from "./images.js";
import { PodIpAllocator } from "./ipam.js";
import { execInPod, type ExecResult } from "./exec.js";
import { KubeletServer } from "./kubelet-server.js";
import { createNodeNamespace, deleteNamespace, namespacesWithPrefix } from "./netns.js";
import { NodeSide } from "./node-side-client.js";
import { PodWorker } from "./pod-worker.js";

export interface LocalNodeOptions {
  /** An admin client of the API server (the node binds, runs and deletes Pods, and writes their status). */
  kubeConfig: KubeConfig;
  /** Where the API server listens on this machine (host and port of its URL). */
  apiServerUrl: string;
  /**
   * A kubeconfig (YAML) for `user` in `groups`, whose server is `server` and
   * whose TLS server name is `tlsServerName`: credentials for kube-proxy and
   * CoreDNS, which reach the API server from the node's network.
   */
  credentials: (request: {
    user: string;
    groups: string[];
    server: string;
    tlsServerName: string;
  }) => Promise<string>;
  /** The kubelet server's certificate and its one client, the API server (see KubeletServer). */
  kubeletCredentials: () => Promise<KubeletCredentials>;
  /** The programs behind the images the node runs (see localImageTable). */
  programs: LocalPrograms;
  kubeProxyBinary: string;
  corednsBinary: string;
  logger: Logger;
  nodeName?: string;
  /** Default 10.244.0.0/16; the node's own namespace keeps it apart from every other node's. */
  podCidr?: string;
  /** The node's folder (Pods' volumes and logs, component configuration), removed on stop. Default: a fresh one under /tmp. */
  stateDir?: string;
  clusterDomain?: string;
  /** The API server's `kubernetes` Service address, handed to Pods as KUBERNETES_SERVICE_HOST. */
  kubernetesServiceIp?: string;
}

const BRIDGE = "skiff0";
/** The port on the node's address where the API server is reachable from Pods (the `kubernetes` Service's endpoint). */
const API_FORWARD_PORT = 6443;
/** A name the API server's serving certificate carries, for clients that dial the node's address. */
const API_TLS_NAME = "kubernetes.default.svc";
const LEASE_RENEW_MS = 10_000;
const COREDNS_USER = "skiff:localnode:coredns";

let instances = 0;

/**
 * A Kubernetes node on this machine, for `skiff dev` and the end-to-end
 * tests: it registers a Node, binds unscheduled Pods to it, and runs each
 * Pod's containers as processes in the Pod's own network namespace (see
 * PodWorker). Service networking is the real thing: kube-proxy (iptables
 * mode) and CoreDNS (the kubernetes plugin) run in the node's own network
 * namespace, which holds the Pods' bridge, so nothing touches the machine's
 * network and several nodes can run side by side. Needs root.
 *
 * Port-forward works as on a real node: the node serves the kubelet's
 * port-forward (KubeletServer: WebSocket for client-node's PortForward and
 * `skiff proxy-status`, SPDY for kubectl) on 127.0.0.1, published as the
 * Node's InternalDNS address `localhost` and kubelet port, so the API
 * server's pods/portforward reaches a port on a Pod's loopback.
 */
export class LocalNode {
  readonly nodeName: string;
  readonly allocator: PodIpAllocator;
  private readonly tag = `${process.pid}x${++instances}`;
  private readonly nodeNamespace = `skiff-${this.tag}-node`;
  private readonly stateDir: string;
  private readonly rest: RestClient;
  private readonly images: ImageTable;
  private readonly log: Logger;
  private readonly workers = new Map<string, PodWorker>();
  private readonly writtenStatus = new Map<string, string>();
  private nodeSide: NodeSide | undefined;
  private apiForwarder: Server | undefined;
  private kubelet: KubeletServer | undefined;
  private kubeletPort = 0;
  private kubeProxy: ManagedProcess | undefined;
  private coredns: ManagedProcess | undefined;
  private pods: Informer<IPod & KubernetesObject> | undefined;
  private leaseTimer: NodeJS.Timeout | undefined;
  private stopping = false;

  constructor(private readonly options: LocalNodeOptions) {
    this.nodeName = options.nodeName ?? "skiff-local";
    this.allocator = new PodIpAllocator(options.podCidr ?? "10.244.0.0/16");
    this.stateDir = options.stateDir ?? mkdtempSync("/tmp/skiff-localnode-");
    // Containers run as other users (Envoy as 1337) and must reach their volumes.
    mkdirSync(this.stateDir, { recursive: true });
    chmodSync(this.stateDir, 0o755);
    const closed = closedAncestor(this.stateDir);
    if (closed)
      throw new Error(
        `the local node's folder ${this.stateDir} must be reachable by other users (Envoy runs as uid 1337), but ${closed} is not: chmod o+x it or choose another folder`,
      );
    this.rest = new RestClient(options.kubeConfig);
    this.images = localImageTable(options.programs, join(this.stateDir, "bin"));
    this.log = options.logger.child({ component: "localnode", node: this.nodeName });
  }

  /** The node's address: the Pods' gateway and DNS server. */
  get address(): string {
    return this.allocator.gateway;
  }

  /** Why the local node cannot run here, or undefined when it can. */
  static unsupportedReason(): string | undefined {
    if (process.platform !== "linux") return "the local node needs Linux network namespaces";
    if (process.getuid?.() !== 0) return "the local node needs root (network namespaces, iptables)";
    for (const tool of ["ip", "nsenter", "unshare", "setpriv", "iptables-restore"])
      if (!onPath(tool)) return `the local node needs ${tool} on the PATH`;
    return undefined;
  }

  async start(): Promise<void> {
    const unsupported = LocalNode.unsupportedReason();
    if (unsupported) throw new Error(unsupported);
    await this.sweepAbandonedNamespaces();
    const gateway = this.allocator.gateway;
    await createNodeNamespace(this.nodeNamespace, BRIDGE, `${gateway}/${this.allocator.prefixLength}`);
    await this.startApiForwarder();
    await this.startKubeletServer();
    await this.registerNode();
    await this.publishKubernetesEndpoints();
    await this.supervise("kube-proxy", () => this.startKubeProxy());
    await this.supervise("coredns", () => this.startCoreDns());
    const pods = new Informer<IPod & KubernetesObject>(this.options.kubeConfig, "v1", "Pod");
    this.pods = pods;
    pods.on((event) => {
      const handled = event.type === "delete" ? this.forget(event.object) : this.observe(event.object);
      handled.catch((error: unknown) =>
        this.log.error(
          { err: error, pod: `${event.object.metadata?.namespace}/${event.object.metadata?.name}` },
          "pod event failed",
        ),
      );
    });
    await pods.start();
    this.log.info({ address: gateway, netns: this.nodeNamespace }, "local node ready");
  }

  /** Deletes namespaces that a local node in a process that no longer exists left behind. */
  private async sweepAbandonedNamespaces(): Promise<void> {
    for (const name of namespacesWithPrefix("skiff-")) {
      const pid = /^skiff-(\d+)x\d+-/.exec(name)?.[1];
      if (!pid || Number(pid) === process.pid) continue;
      try {
        process.kill(Number(pid), 0);
      } catch {
        await deleteNamespace(name).catch(() => {});
      }
    }
  }

  /** The API server, reachable from the node's network at <address>:6443 through a Unix socket. */
  private async startApiForwarder(): Promise<void> {
    const socket = join(this.stateDir, "apiserver.sock");
    const api = new URL(this.options.apiServerUrl);
    this.apiForwarder = createServer((client) => {
      const upstream = createConnection({ host: api.hostname, port: Number(api.port) });
      client.pipe(upstream).pipe(client);
      client.on("error", () => upstream.destroy());
      upstream.on("error", () => client.destroy());
    });
    await new Promise<void>((resolve) => this.apiForwarder!.listen(socket, resolve));
    this.nodeSide = new NodeSide(
      this.nodeNamespace,
      [{ host: this.address, port: API_FORWARD_PORT, socket }],
      (line) => this.log.warn({ nodeSide: line }),
    );
    await this.nodeSide.whenReady();
  }

  private async startKubeletServer(): Promise<void> {
    const podNetns = (namespace: string, name: string) => {
      const pod = this.pods?.get(namespace, name);
      return pod && this.workers.get(pod.metadata!.uid!)?.netns;
    };
    this.kubelet = new KubeletServer(await this.options.kubeletCredentials(), podNetns, this.log);
    this.kubeletPort = await this.kubelet.listen();
  }

  private async registerNode(): Promise<void> {
    const cidr = this.allocator.cidr;
    try {
      await this.rest.request("POST", "/api/v1/nodes", {
        body: {
          apiVersion: "v1",
          kind: "Node",
          metadata: {
            name: this.nodeName,
            labels: {
              "kubernetes.io/hostname": this.nodeName,
              "kubernetes.io/os": "linux",
              "kubernetes.io/arch": "amd64",
            },
          },
          spec: { podCIDR: cidr, podCIDRs: [cidr] },
        },
      });
    } catch (error) {
      if (!(error instanceof KubernetesApiError && error.statusCode === 409)) throw error;
    }
    await this.writeNodeStatus();
    await this.renewLease();
    this.leaseTimer = setInterval(() => {
      void this.renewLease().catch((error: unknown) =>
        this.log.warn({ err: error }, "node lease renewal failed"),
      );
    }, LEASE_RENEW_MS);
  }

  private async writeNodeStatus(): Promise<void> {
    const now = new Date().toISOString();
    const condition = (type: string, status: string, reason: string, message: string) => ({
      type,
      status,
      reason,
      message,
      lastHeartbeatTime: now,
      lastTransitionTime: now,
    });
    const resources = { cpu: "2", memory: "8Gi", pods: "110", "ephemeral-storage": "20Gi" };
    await this.rest.request("PATCH", apiPath`/api/v1/nodes/${this.nodeName}/status`, {
      contentType: "application/merge-patch+json",
      body: {
        status: {
          capacity: resources,
          allocatable: resources,
          addresses: [
            { type: "InternalIP", address: this.address },
            { type: "Hostname", address: this.nodeName },
            // The API server dials kubelets by this first (see its flags): the kubelet server is on loopback.
            { type: "InternalDNS", address: "localhost" },
          ],
          daemonEndpoints: { kubeletEndpoint: { Port: this.kubeletPort } },
          conditions: [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "local node"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "local node"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "local node"),
            condition("Ready", "True", "KubeletReady", "skiff local node is posting ready status"),
          ],
          nodeInfo: {
            machineID: "",
            systemUUID: "",
            bootID: "",
            kernelVersion: "",
            osImage: "skiff local node",
            containerRuntimeVersion: "skiff-localnode://1",
            kubeletVersion: "v1.37.2",
            kubeProxyVersion: "",
            operatingSystem: "linux",
            architecture: "amd64",
          },
        },
      },
    });
  }

  /** The node's heartbeat: the node lifecycle controller marks a node without one NotReady and evicts its Pods. */
  private async renewLease(): Promise<void> {
    const path = apiPath`/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${this.nodeName}`;
    await this.rest.request("PATCH", path, {
      contentType: "application/apply-patch+yaml",
      query: { fieldManager: "skiff-localnode", force: "true" },
      body: {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name: this.nodeName, namespace: "kube-node-lease" },
        spec: {
          holderIdentity: this.nodeName,
          leaseDurationSeconds: 40,
          renewTime: new Date().toISOString().replace("Z", "000Z"),
        },
      },
    });
  }

  /**
   * The `kubernetes` Service's endpoint: the node's forwarder to the API
   * server. (The API server publishes its own address only when that is not
   * loopback, and the local control plane listens on loopback.)
   */
  private async publishKubernetesEndpoints(): Promise<void> {
    await this.rest.request(
      "PATCH",
      "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes",
      {
        contentType: "application/apply-patch+yaml",
        query: { fieldManager: "skiff-localnode", force: "true" },
        body: {
          apiVersion: "discovery.k8s.io/v1",
          kind: "EndpointSlice",
          metadata: {
            name: "kubernetes",
            namespace: "default",
            labels: {
              "kubernetes.io/service-name": "kubernetes",
              "endpointslice.kubernetes.io/managed-by": "skiff-localnode",
            },
          },
          addressType: "IPv4",
          endpoints: [{ addresses: [this.address], conditions: { ready: true } }],
          ports: [{ name: "https", port: API_FORWARD_PORT, protocol: "TCP" }],
        },
      },
    );
  }

  /** Runs a program inside the node's network namespace, its output in the state folder. */
  private inNodeNamespace(name: string, binary: string, args: string[]): ManagedProcess {
    return new ManagedProcess(
      name,
      "nsenter",
      [`--net=/run/netns/${this.nodeNamespace}`, "--", binary, ...args],
      join(this.stateDir, `${name}.log`),
    );
  }

  private async componentKubeconfig(name: string, user: string, groups: string[]): Promise<string> {
    const yaml = await this.options.credentials({
      user,
      groups,
      server: `https://${this.address}:${API_FORWARD_PORT}`,
      tlsServerName: API_TLS_NAME,
    });
    const path = join(this.stateDir, `${name}.kubeconfig`);
    writeFileSync(path, yaml, { mode: 0o600 });
    return path;
  }

  /**
   * Starts a node component and keeps it running, as a kubelet keeps its
   * static Pods: one that exits is logged with its last output and started
   * again, so a crash of kube-proxy or CoreDNS is loud, not a silent loss of
   * Service routing or names for every later Pod.
   */
  private async supervise(name: string, start: () => Promise<ManagedProcess>): Promise<void> {
    const component = await start();
    void component.exitPromise.then(async (code) => {
      if (this.stopping) return;
      this.log.error(
        { nodeComponent: name, code, output: component.logTail(10) },
        "node component exited; restarting it",
      );
      for (let attempt = 1; !this.stopping; attempt++) {
        await new Promise((r) => setTimeout(r, Math.min(1000 * attempt, 10_000)));
        if (this.stopping) return;
        try {
          return await this.supervise(name, start);
        } catch (error) {
          this.log.error({ nodeComponent: name, attempt, err: error }, "node component did not restart");
        }
      }
    });
  }

  private async startKubeProxy(): Promise<ManagedProcess> {
    const kubeconfig = await this.componentKubeconfig("kube-proxy", "system:kube-proxy", []);
    const config = join(this.stateDir, "kube-proxy.yaml");
    writeFileSync(
      config,
      JSON.stringify({
        apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
        kind: "KubeProxyConfiguration",
        clientConnection: { kubeconfig },
        hostnameOverride: this.nodeName,
        mode: "iptables",
        clusterCIDR: this.allocator.cidr,
        // The conntrack table's size is global to the machine: leave it alone.
        conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: "0s", tcpCloseWaitTimeout: "0s" },
        iptables: { minSyncPeriod: "0s", syncPeriod: "30s" },
        metricsBindAddress: "127.0.0.1:10249",
        healthzBindAddress: "127.0.0.1:10256",
        nodePortAddresses: [`${this.address}/32`],
      }),
    );
    const kubeProxy = this.inNodeNamespace("kube-proxy", this.options.kubeProxyBinary, [
      `--config=${config}`,
      "--v=1",
    ]);
    this.kubeProxy = kubeProxy;
    await this.waitForHttp(kubeProxy, 10256, "/healthz");
    return kubeProxy;
  }

  private async startCoreDns(): Promise<ManagedProcess> {
    await applyManifests(this.options.kubeConfig, "skiff-localnode", [
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name: COREDNS_USER },
        rules: [
          {
            apiGroups: [""],
            resources: ["endpoints", "services", "pods", "namespaces"],
            verbs: ["list", "watch"],
          },
          { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] },
        ],
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        metadata: { name: COREDNS_USER },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: COREDNS_USER },
        subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: COREDNS_USER }],
      },
    ] as never);
    const kubeconfig = await this.componentKubeconfig("coredns", COREDNS_USER, []);
    const domain = this.options.clusterDomain ?? "cluster.local";
    const corefile = join(this.stateDir, "Corefile");
    writeFileSync(
      corefile,
      [
        ".:53 {",
        `  bind ${this.address}`,
        "  errors",
        "  ready 127.0.0.1:8181",
        `  kubernetes ${domain} in-addr.arpa ip6.arpa {`,
        `    kubeconfig ${kubeconfig}`,
        "    pods insecure",
        "    ttl 5",
        "    fallthrough in-addr.arpa ip6.arpa",
        "  }",
        "}",
        "",
      ].join("\n"),
    );
    const coredns = this.inNodeNamespace("coredns", this.options.corednsBinary, ["-conf", corefile]);
    this.coredns = coredns;
    await this.waitForHttp(coredns, 8181, "/ready");
    return coredns;
  }

  /** Waits until a node-network component answers 200 on 127.0.0.1:port, failing early if it exits. */
  private async waitForHttp(
    component: ManagedProcess,
    port: number,
    path: string,
    timeoutMs = 60_000,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (component.hasExited)
        throw new Error(`${component.name} exited; its last output:\n${component.logTail()}`);
      const result = await this.nodeSide!.probe({
        type: "http",
        host: "127.0.0.1",
        port,
        path,
        timeoutMs: 1000,
      });
      if (result.ok) return;
      if (Date.now() > deadline)
        throw new Error(
          `${component.name} did not answer ${path} on :${port}: ${result.detail}\n${component.logTail()}`,
        );
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  private async observe(pod: IPod): Promise<void> {
    if (this.stopping) return;
    const meta = pod.metadata!;
    const key = meta.uid!;
    if (!pod.spec?.nodeName) {
      if ((pod.spec?.schedulerName ?? "default-scheduler") === "default-scheduler") await this.bind(pod);
      return;
    }
    if (pod.spec.nodeName !== this.nodeName) return;
    let worker = this.workers.get(key);
    if (!worker) {
      if (meta.deletionTimestamp || pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed") {
        if (meta.deletionTimestamp) await this.finalDelete(pod);
        return;
      }
      worker = new PodWorker(pod, {
        nodeName: this.nodeName,
        hostIP: this.address,
        nodeNamespace: this.nodeNamespace,
        bridge: BRIDGE,
        allocator: this.allocator,
        stateDir: this.stateDir,
        netnsPrefix: `skiff-${this.tag}-`,
        images: this.images,
        lookupProgram: onPath,
        nodeSide: this.nodeSide!,
        rest: this.rest,
        log: this.log,
        serviceEnv: this.serviceEnv(),
        clusterDomain: this.options.clusterDomain ?? "cluster.local",
        writeStatus: (p, status) => this.writeStatus(p, status),
      });
      this.workers.set(key, worker);
      void worker.run();
      return;
    }
    worker.update(pod);
    if (meta.deletionTimestamp) {
      await worker.terminate((meta.deletionGracePeriodSeconds ?? 30) * 1000);
      this.workers.delete(key);
      await this.finalDelete(pod);
    }
  }

  /** Kubernetes gives each container the `kubernetes` Service's address, which in-cluster clients use. */
  private serviceEnv(): Map<string, string> {
    const ip = this.options.kubernetesServiceIp ?? "10.0.0.1";
    return new Map([
      ["KUBERNETES_SERVICE_HOST", ip],
      ["KUBERNETES_SERVICE_PORT", "443"],
      ["KUBERNETES_SERVICE_PORT_HTTPS", "443"],
      ["KUBERNETES_PORT", `tcp://${ip}:443`],
      ["KUBERNETES_PORT_443_TCP", `tcp://${ip}:443`],
      ["KUBERNETES_PORT_443_TCP_PROTO", "tcp"],
      ["KUBERNETES_PORT_443_TCP_PORT", "443"],
      ["KUBERNETES_PORT_443_TCP_ADDR", ip],
    ]);
  }

  /** The scheduler's part, for a one-node cluster: bind to this node. */
  private async bind(pod: IPod): Promise<void> {
    const meta = pod.metadata!;
    try {
      await this.rest.request(
        "POST",
        apiPath`/api/v1/namespaces/${meta.namespace!}/pods/${meta.name!}/binding`,
        {
          body: {
            apiVersion: "v1",
            kind: "Binding",
            metadata: { name: meta.name, namespace: meta.namespace, uid: meta.uid },
            target: { apiVersion: "v1", kind: "Node", name: this.nodeName },
          },
        },
      );
    } catch (error) {
      // 409: already bound (an update raced us); 404: deleted meanwhile.
      if (!(error instanceof KubernetesApiError && (error.statusCode === 409 || error.statusCode === 404)))
        throw error;
    }
  }

  private async forget(pod: IPod): Promise<void> {
    const worker = this.workers.get(pod.metadata!.uid!);
    if (!worker) return;
    this.workers.delete(pod.metadata!.uid!);
    this.writtenStatus.delete(pod.metadata!.uid!);
    await worker.terminate(2000);
  }

  /** The kubelet's last word on a Pod: delete it with no grace, once its containers are gone. */
  private async finalDelete(pod: IPod): Promise<void> {
    const meta = pod.metadata!;
    this.writtenStatus.delete(meta.uid!);
    try {
      await this.rest.request("DELETE", apiPath`/api/v1/namespaces/${meta.namespace!}/pods/${meta.name!}`, {
        body: {
          apiVersion: "v1",
          kind: "DeleteOptions",
          gracePeriodSeconds: 0,
          preconditions: { uid: meta.uid },
        },
      });
    } catch (error) {
      if (!(error instanceof KubernetesApiError && (error.statusCode === 404 || error.statusCode === 409)))
        throw error;
    }
  }

  private async writeStatus(pod: IPod, status: object): Promise<void> {
    const uid = pod.metadata!.uid!;
    const text = JSON.stringify(status);
    if (this.writtenStatus.get(uid) === text || this.stopping) return;
    this.writtenStatus.set(uid, text);
    try {
      await this.rest.request(
        "PATCH",
        apiPath`/api/v1/namespaces/${pod.metadata!.namespace!}/pods/${pod.metadata!.name!}/status`,
        {
          contentType: "application/merge-patch+json",
          body: { status },
        },
      );
    } catch (error) {
      this.writtenStatus.delete(uid);
      if (!(error instanceof KubernetesApiError && error.statusCode === 404)) throw error;
    }
  }

  /**
   * Runs a command in a running Pod's network namespace, as `skiff dev exec`
   * does: as the user of `container` (default: the first), so a command run
   * as the sidecar is not captured by it. Throws when the Pod does not run here.
   */
  exec(
    namespace: string,
    name: string,
    command: string[],
    options: { container?: string; timeoutMs?: number } = {},
  ): Promise<ExecResult> {
    const pod = this.pods?.get(namespace, name);
    const worker = pod && this.workers.get(pod.metadata!.uid!);
    if (!pod || !worker)
      throw new Error(`pod ${namespace}/${name} does not run on the local node ${this.nodeName}`);
    return execInPod(worker.netns, command, {
      uid: containerUser(pod, options.container),
      timeoutMs: options.timeoutMs,
    });
  }

  /** The host pid of a running container, for entering its mount namespace (tests, debugging). */
  containerPid(namespace: string, name: string, container: string): number | undefined {
    const pod = this.pods?.get(namespace, name);
    return pod && this.workers.get(pod.metadata!.uid!)?.containerPid(container);
  }

  /** Where a running Pod keeps a container's log (appended across restarts). */
  logPath(namespace: string, name: string, container: string): string | undefined {
    const pod = this.pods?.get(namespace, name);
    const worker = pod && this.workers.get(pod.metadata!.uid!);
    return worker?.logPath(container);
  }

  /**
   * Where a volume of a Pod lives on this machine: tests reach a sidecar's
   * agent through the sockets in its emptyDir, as Envoy does.
   */
  volumePath(namespace: string, name: string, volume: string): string | undefined {
    const pod = this.pods?.get(namespace, name);
    const worker = pod && this.workers.get(pod.metadata!.uid!);
    return worker?.volumePath(volume);
  }

  /** The pid of a running node component ("kube-proxy", "coredns"), for tests that kill one. */
  componentPid(name: "kube-proxy" | "coredns"): number | undefined {
    const component = name === "kube-proxy" ? this.kubeProxy : this.coredns;
    return component && !component.hasExited ? component.pid : undefined;
  }

  /** Stops every Pod (quickly: the node is going away), kube-proxy and CoreDNS, and deletes the node's namespaces. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.pods?.stop();
    clearInterval(this.leaseTimer);
    await Promise.all([...this.workers.values()].map((w) => w.terminate(2000)));
    this.workers.clear();
    await this.kubeProxy?.stop(2000);
    await this.coredns?.stop(2000);
    this.nodeSide?.stop();
    this.apiForwarder?.close();
    this.kubelet?.close();
    await deleteNamespace(this.nodeNamespace).catch(() => {});
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}

/** The uid a container runs as when its spec says (the image's user otherwise: root here). */
export function containerUser(pod: IPod, container?: string): number {
  const all = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])];
  const spec = container ? all.find((c) => c.name === container) : all[0];
  if (!spec) throw new Error(`pod ${pod.metadata?.name} has no container ${container}`);
  return spec.securityContext?.runAsUser ?? pod.spec?.securityContext?.runAsUser ?? 0;
}

function onPath(program: string): string | undefined {
  if (program.includes("/")) return isExecutable(program) ? program : undefined;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const candidate = join(dir, program);
    if (dir && isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
