import type { IContainer, IPod } from "kubernetes-models/v1";
import { execFile } from "node:child_process";
import { chmodSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Logger } from "pino";
import { apiPath, type RestClient } from "../k8s/rest.js";
import { ContainerProcess, type ContainerMount } from "./container-process.js";
import { expandVariables, resolveCommand, type ImageTable } from "./images.js";
import type { PodIpAllocator } from "./ipam.js";
import { createPodNamespace, deleteNamespace, netnsEtc } from "./netns.js";
import type { NodeSide } from "./node-side-client.js";
import {
  ContainerConfigError,
  containerEnvironment,
  referencedObjects,
  type PodInputs,
  type PodRuntimeFacts,
} from "./pod-inputs.js";
import { podStatus, type ContainerRecord, type PodRecord } from "./pod-status.js";
import { probePlan, ProbeVerdict, type ProbePlan } from "./probes.js";
import { requestedTokens, safeRelativePath, volumeSource, type VolumeSource } from "./volumes.js";

/** What every Pod on the node shares. */
export interface NodeServices {
  nodeName: string;
  /** The node's address, the Pods' gateway and DNS server. */
  hostIP: string;
  nodeNamespace: string;
  bridge: string;
  allocator: PodIpAllocator;
  /** A folder per Pod is made under it. */
  stateDir: string;
  /** Prefix of every Pod's network namespace name (the Pod's UID follows). */
  netnsPrefix: string;
  images: ImageTable;
  lookupProgram: (program: string) => string | undefined;
  nodeSide: NodeSide;
  rest: RestClient;
  log: Logger;
  /** KUBERNETES_SERVICE_HOST and friends. */
  serviceEnv: ReadonlyMap<string, string>;
  clusterDomain: string;
  /** Writes the Pod's status; the caller drops writes that change nothing. */
  writeStatus: (pod: IPod, status: object) => Promise<void>;
}

/**
 * Restart back-off: shorter than the kubelet's 10 s to 5 min, so tests that
 * kill a sidecar see it back quickly. A container that ran for `reset`
 * starts over at `initial`, as the kubelet forgets old crashes.
 */
const RESTART_BACKOFF_MS = { initial: 1000, max: 30_000, reset: 60_000 };
const INPUT_RETRY_MS = 2000;
/** How often volumes are re-read: ConfigMap and Secret changes reach running Pods, as with the kubelet's sync. */
const VOLUME_RESYNC_MS = 5000;

interface Slot {
  spec: IContainer;
  record: ContainerRecord;
  process?: ContainerProcess;
  backoffMs: number;
  restartTimer?: NodeJS.Timeout;
  probeTimers: NodeJS.Timeout[];
  /** Runs the readiness probe now (the kubelet's manual trigger); set while its probes run. */
  probeReadinessNow?: () => void;
}

/**
 * Runs one Pod bound to the local node, as a kubelet's pod worker does:
 * sandbox (network namespace, IP, resolv.conf), volumes, init containers in
 * order, then the containers, restarts with back-off by restartPolicy,
 * startup/readiness/liveness probes, and status after every change. Deletion
 * stops the containers (SIGTERM, then SIGKILL after the grace period), tears
 * the sandbox down and removes the Pod object.
 */
export class PodWorker {
  private readonly dir: string;
  readonly netns: string;
  private readonly record: PodRecord;
  private readonly init: Slot[];
  private readonly main: Slot[];
  private inputs: PodInputs | undefined;
  private readonly tokens = new Map<string, { token: string; refreshAt: number }>();
  private terminating: Promise<void> | undefined;
  private volumeTimer: NodeJS.Timeout | undefined;
  private statusQueued = false;
  private statusWrite: Promise<void> = Promise.resolve();
  private readonly log: Logger;

  constructor(
    private pod: IPod,
    private readonly node: NodeServices,
  ) {
    const meta = pod.metadata!;
    this.dir = join(node.stateDir, "pods", `${meta.namespace}_${meta.name}_${meta.uid}`);
    this.netns = `${node.netnsPrefix}${meta.uid}`;
    this.log = node.log.child({ pod: `${meta.namespace}/${meta.name}` });
    const slot = (spec: IContainer, init: boolean): Slot => ({
      spec,
      backoffMs: RESTART_BACKOFF_MS.initial,
      probeTimers: [],
      record: {
        name: spec.name,
        image: spec.image ?? "",
        runToCompletion: init && spec.restartPolicy !== "Always",
        sidecar: init && spec.restartPolicy === "Always",
        state: { waiting: { reason: "PodInitializing" } },
        restartCount: 0,
        ready: false,
        started: false,
        completed: false,
      },
    });
    this.init = (pod.spec?.initContainers ?? []).map((c) => slot(c, true));
    this.main = (pod.spec?.containers ?? []).map((c) => slot(c, false));
    for (const s of this.main) s.record.state = { waiting: { reason: "ContainerCreating" } };
    const now = new Date().toISOString();
    this.record = {
      hostIP: node.hostIP,
      startTime: now,
      initContainers: this.init.map((s) => s.record),
      containers: this.main.map((s) => s.record),
      transitions: new Map(),
      now,
    };
  }

  get podIP(): string | undefined {
    return this.record.podIP;
  }

  /** The pid of a container's running process (its namespaces are the container's). */
  containerPid(name: string): number | undefined {
    return [...this.main, ...this.init].find((s) => s.spec.name === name)?.process?.startedPid;
  }

  logPath(container: string): string {
    return join(this.dir, "logs", `${container}.log`);
  }

  /** Where a volume of the Pod lives on this machine (an emptyDir's sockets, say). */
  volumePath(volume: string): string {
    return this.volumeDir(volume);
  }

  /** A newer copy of the Pod from the API (labels and annotations feed the downward API). */
  update(pod: IPod): void {
    this.pod = pod;
  }

  private get isTerminating(): boolean {
    return this.terminating !== undefined;
  }

  /** Runs the Pod until it is terminated; errors are reported in status and retried, never thrown. */
  async run(): Promise<void> {
    try {
      if (!(await this.sandboxWithRetries())) return;
      while (!this.isTerminating && !(await this.prepareVolumes())) await sleep(INPUT_RETRY_MS);
      this.volumeTimer = setInterval(() => void this.prepareVolumes(), VOLUME_RESYNC_MS);
      for (const slot of this.init) {
        if (this.isTerminating) return;
        if (slot.record.sidecar) {
          this.startContainer(slot);
          while (!this.isTerminating && !slot.record.started) await this.nextChange();
        } else if (!(await this.runToCompletion(slot))) return;
      }
      for (const slot of this.main) if (!this.isTerminating) this.startContainer(slot);
    } catch (error) {
      // A bug of the node's, not the Pod's: say so where people look, and keep the Pod as it is.
      this.log.error({ err: error }, "pod worker failed");
      for (const slot of [...this.init, ...this.main])
        if (!slot.process)
          slot.record.state = { waiting: { reason: "LocalNodeError", message: String(error) } };
      this.changed();
    }
  }

  // Resolved by changed(): lets run() wait for a container to start without polling.
  private changeWaiters: (() => void)[] = [];
  private nextChange(): Promise<void> {
    return new Promise((resolve) => this.changeWaiters.push(resolve));
  }
  private changed(): void {
    for (const resolve of this.changeWaiters.splice(0)) resolve();
    // As the kubelet's status update does: a started container with no
    // passing readiness result has its readiness probe run at once, rather
    // than a period later (a sidecar whose startup probe just passed, an
    // application that came up beside it).
    for (const slot of [...this.init, ...this.main])
      if (slot.record.started && !slot.record.ready) slot.probeReadinessNow?.();
    this.queueStatus();
  }

  /**
   * Creates the sandbox, retrying with back-off as the kubelet does
   * (FailedCreatePodSandBox): a failure leaves nothing behind and keeps the
   * Pod Pending, with the error as its containers' waiting message. False
   * when the Pod is terminated meanwhile.
   */
  private async sandboxWithRetries(): Promise<boolean> {
    for (
      let delay = RESTART_BACKOFF_MS.initial;
      !this.isTerminating;
      delay = Math.min(delay * 2, RESTART_BACKOFF_MS.max)
    ) {
      try {
        await this.createSandbox();
        return true;
      } catch (error) {
        await this.removeSandbox();
        const message = `failed to create the Pod sandbox: ${error instanceof Error ? error.message : String(error)}`;
        this.log.warn({ err: message }, "sandbox creation failed");
        for (const slot of [...this.init, ...this.main])
          slot.record.state = { waiting: { reason: "ContainerCreating", message } };
        this.changed();
        await sleep(delay);
      }
    }
    return false;
  }

  /** Deletes the network namespace (and the veth with it) and frees the IP. */
  private async removeSandbox(): Promise<void> {
    await deleteNamespace(this.netns).catch((error: unknown) =>
      this.log.warn({ err: error }, "netns delete failed"),
    );
    if (this.record.podIP) this.node.allocator.release(this.record.podIP);
    this.record.podIP = undefined;
  }

  private async createSandbox(): Promise<void> {
    mkdirSync(join(this.dir, "logs"), { recursive: true, mode: 0o755 });
    const podIp = this.node.allocator.allocate();
    this.record.podIP = podIp;
    const uid = this.pod.metadata!.uid!;
    await deleteNamespace(this.netns); // left by a node that crashed
    await createPodNamespace({
      nodeNamespace: this.node.nodeNamespace,
      bridge: this.node.bridge,
      podNamespace: this.netns,
      hostVeth: `sk${uid.replace(/-/g, "").slice(0, 11)}`,
      podIp,
      prefixLength: this.node.allocator.prefixLength,
      gateway: this.node.hostIP,
    });
    const ns = this.pod.metadata!.namespace!;
    const domain = this.node.clusterDomain;
    const resolvConf = `search ${ns}.svc.${domain} svc.${domain} ${domain}\nnameserver ${this.node.hostIP}\noptions ndots:5\n`;
    const hosts = `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${podIp}\t${this.hostname()}\n`;
    writeFileSync(join(this.dir, "resolv.conf"), resolvConf, { mode: 0o644 });
    writeFileSync(join(this.dir, "hosts"), hosts, { mode: 0o644 });
    // `ip netns exec` binds these over /etc for whatever it runs, so a
    // person's (or a test's) command in the Pod resolves names as the Pod does.
    mkdirSync(netnsEtc(this.netns), { recursive: true });
    writeFileSync(join(netnsEtc(this.netns), "resolv.conf"), resolvConf);
    writeFileSync(join(netnsEtc(this.netns), "hosts"), hosts);
    this.changed();
  }

  private hostname(): string {
    return (this.pod.spec?.hostname ?? this.pod.metadata!.name!).slice(0, 63);
  }

  private facts(): PodRuntimeFacts {
    return { podIP: this.record.podIP ?? "", hostIP: this.node.hostIP, nodeName: this.node.nodeName };
  }

  /**
   * Reads the ConfigMaps, Secrets and tokens the Pod refers to and writes
   * its volumes. False (with every waiting container showing
   * CreateContainerConfigError) when something it needs is missing.
   */
  private async prepareVolumes(): Promise<boolean> {
    try {
      this.inputs = await this.fetchInputs();
      await this.refreshTokens();
      for (const volume of this.pod.spec?.volumes ?? []) {
        const source = volumeSource(
          this.pod,
          volume,
          this.inputs,
          this.facts(),
          (aud, exp) => this.tokens.get(`${aud}|${exp}`)!.token,
        );
        this.writeVolume(volume.name, source);
      }
      return true;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      for (const slot of [...this.init, ...this.main])
        if (!slot.process && slot.record.state.waiting)
          slot.record.state = { waiting: { reason: "CreateContainerConfigError", message } };
      this.log.warn({ err: message }, "pod inputs not ready");
      this.changed();
      return false;
    }
  }

  private async fetchInputs(): Promise<PodInputs> {
    const ns = this.pod.metadata!.namespace!;
    const { configMaps, secrets } = referencedObjects(this.pod);
    const get = <T>(kind: string, name: string) =>
      this.node.rest.getIfExists<T>(apiPath`/api/v1/namespaces/${ns}/${kind}/${name}`);
    return {
      configMaps: new Map(
        await Promise.all(
          [...configMaps].map(
            async (n) => [n, await get<{ data?: Record<string, string> }>("configmaps", n)] as const,
          ),
        ),
      ),
      secrets: new Map(
        await Promise.all(
          [...secrets].map(
            async (n) => [n, await get<{ data?: Record<string, string> }>("secrets", n)] as const,
          ),
        ),
      ),
    };
  }

  /** TokenRequest for each audience the Pod's volumes name, renewed at 80% of its life as the kubelet does. */
  private async refreshTokens(): Promise<void> {
    const meta = this.pod.metadata!;
    const account = this.pod.spec?.serviceAccountName || "default";
    for (const { audience, expirationSeconds } of requestedTokens(this.pod)) {
      const key = `${audience}|${expirationSeconds}`;
      const held = this.tokens.get(key);
      if (held && held.refreshAt > Date.now()) continue;
      const response = await this.node.rest.request<{ status: { token: string } }>(
        "POST",
        apiPath`/api/v1/namespaces/${meta.namespace!}/serviceaccounts/${account}/token`,
        {
          body: {
            apiVersion: "authentication.k8s.io/v1",
            kind: "TokenRequest",
            spec: {
              ...(audience ? { audiences: [audience] } : {}),
              expirationSeconds,
              boundObjectRef: { apiVersion: "v1", kind: "Pod", name: meta.name, uid: meta.uid },
            },
          },
        },
      );
      this.tokens.set(key, { token: response.status.token, refreshAt: Date.now() + expirationSeconds * 800 });
    }
  }

  private volumeDir(name: string): string {
    return join(this.dir, "volumes", name);
  }

  private writeVolume(name: string, source: VolumeSource): void {
    const dir = this.volumeDir(name);
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    // World-writable, as a kubelet makes it, for containers of any user (chmod: mkdir's mode is cut by the umask).
    if (source.kind === "emptyDir") chmodSync(dir, 0o777);
    if (source.kind !== "files") return;
    for (const file of source.files) {
      if (!safeRelativePath(file.path))
        throw new ContainerConfigError(`volume "${name}": path "${file.path}" leaves the volume`);
      const target = join(dir, file.path);
      mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
      // Write and rename, so a reader never sees half a file.
      writeFileSync(`${target}.tmp`, file.content, { mode: file.mode });
      renameSync(`${target}.tmp`, target);
    }
  }

  private mounts(spec: IContainer): ContainerMount[] {
    return (spec.volumeMounts ?? []).map((m) => {
      const volume = this.pod.spec?.volumes?.find((v) => v.name === m.name);
      if (!volume) throw new ContainerConfigError(`volumeMount "${m.name}": no such volume`);
      const base = volume.hostPath ? volume.hostPath.path : this.volumeDir(m.name);
      if (m.subPath && !safeRelativePath(m.subPath))
        throw new ContainerConfigError(`volumeMount "${m.name}": bad subPath`);
      const source = m.subPath ? join(base, m.subPath) : base;
      const file = Boolean(m.subPath) && !volume.emptyDir && !volume.hostPath;
      return { source, target: m.mountPath, readOnly: Boolean(m.readOnly), file };
    });
  }

  /** Starts one run of a container; a failure to start shows as the container's waiting reason. */
  private startContainer(slot: Slot, retryOnError = true): void {
    if (this.isTerminating) return;
    const spec = slot.spec;
    try {
      const env = containerEnvironment(this.pod, spec, this.inputs!, this.facts(), this.node.serviceEnv);
      if (!env.has("PATH")) env.set("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
      env.set("HOSTNAME", this.hostname());
      const expand = (values?: string[]) => values?.map((v) => expandVariables(v, env));
      const command = resolveCommand(
        this.node.images,
        { image: spec.image, command: expand(spec.command), args: expand(spec.args) },
        this.node.lookupProgram,
      );
      if (command.kind === "error") {
        slot.record.state = { waiting: { reason: command.reason, message: command.message } };
        this.changed();
        if (retryOnError) this.scheduleRestart(slot);
        return;
      }
      const security = { ...this.pod.spec?.securityContext, ...spec.securityContext };
      const uid = security.runAsUser ?? command.user;
      if (security.runAsNonRoot && uid === 0)
        throw new ContainerConfigError("container has runAsNonRoot and image will run as root");
      const process = new ContainerProcess({
        netns: this.netns,
        hostname: this.hostname(),
        argv: command.argv,
        env,
        uid,
        gid: security.runAsGroup ?? 0,
        workingDir: spec.workingDir ?? command.image.workingDir ?? "/",
        mounts: [
          ...(command.image.contents ?? []).map((c) => ({ ...c, readOnly: true, file: false })),
          ...this.mounts(spec),
        ],
        resolvConf: join(this.dir, "resolv.conf"),
        hosts: join(this.dir, "hosts"),
        scriptPath: join(this.dir, `${spec.name}.launch.sh`),
        logPath: this.logPath(spec.name),
      });
      slot.process = process;
      const startedAt = process.startedAt.toISOString();
      // Running (and probed) only once its mounts are in place, as a kubelet
      // reports a container after its runtime started it.
      void process.started.then((started) => {
        if (!started || slot.process !== process || this.isTerminating) return;
        slot.record.state = { running: { startedAt } };
        slot.record.ready = false;
        slot.record.started = !spec.startupProbe;
        this.startProbes(slot);
        this.changed();
      });
      void process.exited.then((code) => this.onExit(slot, process, code, startedAt));
    } catch (error) {
      const reason =
        error instanceof ContainerConfigError ? "CreateContainerConfigError" : "RunContainerError";
      slot.record.state = {
        waiting: { reason, message: error instanceof Error ? error.message : String(error) },
      };
      this.changed();
      if (retryOnError) this.scheduleRestart(slot);
    }
  }

  private onExit(slot: Slot, process: ContainerProcess, exitCode: number, startedAt: string): void {
    if (slot.process !== process) return;
    slot.process = undefined;
    this.stopProbes(slot);
    if (Date.now() - process.startedAt.getTime() >= RESTART_BACKOFF_MS.reset)
      slot.backoffMs = RESTART_BACKOFF_MS.initial;
    const terminated = {
      exitCode,
      reason: exitCode === 0 ? "Completed" : "Error",
      startedAt,
      finishedAt: new Date().toISOString(),
    };
    slot.record.state = { terminated };
    slot.record.ready = false;
    if (slot.record.runToCompletion && exitCode === 0) slot.record.completed = true;
    this.log.info({ container: slot.spec.name, exitCode }, "container exited");
    this.changed();
    if (!this.isTerminating && this.shouldRestart(slot, exitCode)) this.scheduleRestart(slot);
  }

  private shouldRestart(slot: Slot, exitCode: number): boolean {
    if (slot.record.sidecar) return true;
    if (slot.record.runToCompletion) return false; // runToCompletion() decides
    const policy = this.pod.spec?.restartPolicy ?? "Always";
    return policy === "Always" || (policy === "OnFailure" && exitCode !== 0);
  }

  /** Restarts after the back-off, showing CrashLoopBackOff meanwhile. */
  private scheduleRestart(slot: Slot): void {
    const ran = Boolean(slot.record.state.terminated);
    const delay = this.backOff(slot);
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (this.isTerminating) return;
      if (ran) slot.record.restartCount++;
      this.startContainer(slot);
    }, delay);
  }

  /**
   * Runs an init container until it exits 0; false when the Pod failed or is
   * terminating. A container that cannot start (a config error) is retried
   * whatever the restartPolicy, as the kubelet does.
   */
  private async runToCompletion(slot: Slot): Promise<boolean> {
    for (;;) {
      this.startContainer(slot, false);
      const process = slot.process;
      if (process) {
        const code = await process.exited;
        if (this.isTerminating) return false;
        if (code === 0) return true;
        if ((this.pod.spec?.restartPolicy ?? "Always") === "Never") {
          this.record.failed = {
            reason: "InitContainerFailed",
            message: `init container ${slot.spec.name} exited with ${code}`,
          };
          this.changed();
          return false;
        }
      }
      const delay = this.backOff(slot);
      await sleep(delay);
      if (this.isTerminating) return false;
      if (process) slot.record.restartCount++;
    }
  }

  /** Shows CrashLoopBackOff (keeping a failed run as lastState) and returns how long to wait. */
  private backOff(slot: Slot): number {
    const delay = slot.backoffMs;
    slot.backoffMs = Math.min(slot.backoffMs * 2, RESTART_BACKOFF_MS.max);
    const terminated = slot.record.state.terminated;
    if (terminated) {
      slot.record.lastState = { terminated };
      slot.record.state = {
        waiting: {
          reason: "CrashLoopBackOff",
          message: `back-off ${delay / 1000}s restarting failed container=${slot.spec.name}`,
        },
      };
    }
    this.changed();
    return delay;
  }

  private startProbes(slot: Slot): void {
    const spec = slot.spec;
    const startup = spec.startupProbe ? probePlan(spec, spec.startupProbe) : undefined;
    const readiness = spec.readinessProbe ? probePlan(spec, spec.readinessProbe) : undefined;
    const liveness = spec.livenessProbe ? probePlan(spec, spec.livenessProbe) : undefined;
    if (!readiness) slot.record.ready = !startup;
    const process = slot.process;
    const startedAt = Date.now();
    /** Probes on the plan's period; the function it returns probes now, as the kubelet's manual trigger does. */
    const loop = (plan: ProbePlan, onResult: (verdict: ProbeVerdict) => void, when: () => boolean) => {
      const verdict = new ProbeVerdict(plan);
      // One live timer per probe, replaced at each tick, so the list does not grow with the container's age.
      let timer: NodeJS.Timeout | undefined;
      let probing = false;
      let triggered = false;
      const schedule = (ms: number) => {
        const index = timer ? slot.probeTimers.indexOf(timer) : -1;
        if (index >= 0) slot.probeTimers.splice(index, 1);
        clearTimeout(timer);
        timer = setTimeout(() => void tick(), ms);
        slot.probeTimers.push(timer);
      };
      const tick = async () => {
        if (slot.process !== process || this.isTerminating) return;
        if (when()) {
          probing = true;
          const ok = await this.probeOnce(slot, plan);
          if (slot.process !== process) return;
          if (verdict.record(ok)) onResult(verdict);
          probing = false;
        }
        schedule(triggered ? 0 : plan.periodMs);
        triggered = false;
      };
      schedule(plan.initialDelayMs);
      return () => {
        // The kubelet skips a probe inside the initial delay; one in flight is followed by another.
        if (slot.process !== process || Date.now() < startedAt + plan.initialDelayMs) return;
        if (probing) triggered = true;
        else schedule(0);
      };
    };
    if (startup)
      loop(
        startup,
        (v) => {
          if (v.value) {
            slot.record.started = true;
            if (!readiness) slot.record.ready = true;
            this.changed();
          } else void this.restartUnhealthy(slot, "startup");
        },
        () => !slot.record.started,
      );
    if (readiness)
      slot.probeReadinessNow = loop(
        readiness,
        (v) => {
          slot.record.ready = v.value === true;
          this.changed();
        },
        () => slot.record.started,
      );
    if (liveness)
      loop(
        liveness,
        (v) => {
          if (v.value === false) void this.restartUnhealthy(slot, "liveness");
        },
        () => slot.record.started,
      );
  }

  private stopProbes(slot: Slot): void {
    slot.probeReadinessNow = undefined;
    for (const timer of slot.probeTimers.splice(0)) clearTimeout(timer);
  }

  private async restartUnhealthy(slot: Slot, probe: string): Promise<void> {
    this.log.info({ container: slot.spec.name, probe }, "probe failed, restarting the container");
    await this.stopContainer(slot, this.graceMs());
  }

  /**
   * Stops a container as the kubelet does: its preStop hook first, then
   * SIGTERM, SIGKILL at the end of the grace period; a hook that used it all
   * up leaves the kubelet's one-off 2 s for SIGTERM.
   */
  private async stopContainer(slot: Slot, graceMs: number): Promise<void> {
    const process = slot.process;
    if (!process) return;
    const deadline = Date.now() + graceMs;
    await this.runPreStop(slot, graceMs);
    await process.stop(Math.max(PRE_STOP_EXTENSION_MS, deadline - Date.now()));
  }

  /** A container's preStop hook (sleep, exec, httpGet or tcpSocket), bounded by `budgetMs`. */
  private async runPreStop(slot: Slot, budgetMs: number): Promise<void> {
    const hook = slot.spec.lifecycle?.preStop;
    if (!hook || budgetMs <= 0 || slot.process?.startedPid === undefined) return;
    if (hook.sleep) {
      await Promise.race([sleep(Math.min(hook.sleep.seconds * 1000, budgetMs)), slot.process.exited]);
      return;
    }
    // The other handlers have a probe's shape: run one as a probe, its result ignored (as the kubelet logs it).
    const plan = probePlan(slot.spec, { ...hook, timeoutSeconds: Math.max(1, Math.floor(budgetMs / 1000)) });
    const ok = await this.probeOnce(slot, plan).catch(() => false);
    if (!ok) this.log.info({ container: slot.spec.name }, "preStop hook failed");
  }

  private async probeOnce(slot: Slot, plan: ProbePlan): Promise<boolean> {
    const check = plan.check;
    if (check.type === "unsupported") return false;
    if (check.type === "exec") {
      const pid = slot.process?.startedPid;
      if (pid === undefined) return false;
      return new Promise((resolve) =>
        execFile(
          "nsenter",
          ["-t", String(pid), "-n", "-m", "--", ...check.command],
          { timeout: check.timeoutMs },
          (error) => resolve(!error),
        ),
      );
    }
    const result = await this.node.nodeSide.probe({ ...check.request, host: this.record.podIP ?? "" });
    return result.ok;
  }

  private graceMs(): number {
    return (this.pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000;
  }

  /**
   * Writes the status once per turn of the event loop, one write at a time:
   * two PATCHes in flight could land out of order and leave an older status
   * standing. A change during a write is written after it.
   */
  private queueStatus(): void {
    if (this.statusQueued) return;
    this.statusQueued = true;
    const write = async () => {
      await this.statusWrite;
      this.statusQueued = false;
      this.record.now = new Date().toISOString();
      await this.node
        .writeStatus(this.pod, podStatus(this.pod, this.record))
        .catch((error: unknown) => this.log.warn({ err: error }, "status write failed"));
    };
    this.statusWrite = write();
  }

  /**
   * Stops every container (the application's first, then native sidecars,
   * as Kubernetes orders them), tears the sandbox down and frees the IP.
   * Idempotent.
   */
  terminate(graceMs = this.graceMs()): Promise<void> {
    this.terminating ??= (async () => {
      this.changed();
      clearInterval(this.volumeTimer);
      for (const slot of [...this.main, ...this.init]) {
        clearTimeout(slot.restartTimer);
        this.stopProbes(slot);
      }
      await Promise.all(this.main.map((s) => this.stopContainer(s, graceMs)));
      await Promise.all(this.init.map((s) => this.stopContainer(s, graceMs)));
      await this.removeSandbox();
      rmSync(this.dir, { recursive: true, force: true });
    })();
    return this.terminating;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the kubelet grants for SIGTERM when a preStop hook ran out the grace period. */
const PRE_STOP_EXTENSION_MS = 2000;
