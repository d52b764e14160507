import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { hostname } from "node:os";
import { randomUUID } from "node:crypto";
import { startMeshController, type RunningController } from "../controllers/mesh/controller.js";
import { LeaderElector } from "../k8s/leaderelection.js";
import { listenAddress } from "../net/listen-address.js";
import { startProbeServer, type ProbeServer } from "../observability/server.js";
import { startWebhook, type RunningWebhook, type WebhookOptions } from "../webhook/webhook.js";

export interface OperatorOptions {
  logger: Logger;
  /** The image this operator runs; the default xDS server image. */
  image: string;
  /** host:port for /healthz, /readyz and /metrics; port 0 picks a free one. */
  httpAddress: string;
  leaderElection: boolean;
  /** Where the leader-election Lease lives (the operator's own namespace). */
  leaseNamespace: string;
  /** Serve the admission webhooks (on every replica, leader or not). */
  webhook?: Omit<WebhookOptions, "logger" | "image">;
}

export interface RunningOperator {
  /** The bound port of the probe and metrics server. */
  httpPort: number;
  /** The admission webhooks, when they run. */
  webhook?: RunningWebhook;
  isLeader(): boolean;
  /** Drains reconciles in flight, releases the lease and closes the server. */
  stop(): Promise<void>;
}

/**
 * `skiff operator`: the controllers, behind leader election. A replica that is
 * not the leader serves health and metrics but reconciles nothing; it is
 * ready, so a rolling update never waits on leadership.
 */
export async function startOperator(
  kubeConfig: KubeConfig,
  options: OperatorOptions,
): Promise<RunningOperator> {
  const log = options.logger;
  let controllers: RunningController[] = [];
  let transition: Promise<void> = Promise.resolve();
  let leading = false;

  let retryTimer: NodeJS.Timeout | undefined;
  // Transitions run one at a time and never reject, so a failed start cannot wedge a later stop.
  const startControllers = (): Promise<void> =>
    (transition = transition.then(async () => {
      if (!leading || controllers.length > 0) return;
      try {
        log.info("starting controllers");
        controllers = [await startMeshController(kubeConfig, { operatorImage: options.image, logger: log })];
      } catch (error) {
        // Typically missing CRDs or permissions: say so, and try again while still leading.
        log.error({ err: error }, "controllers failed to start; retrying in 5s");
        retryTimer = setTimeout(() => void startControllers(), 5_000);
      }
    }));
  const stopControllers = (): Promise<void> =>
    (transition = transition.then(async () => {
      clearTimeout(retryTimer);
      const running = controllers;
      controllers = [];
      await Promise.all(
        running.map((c) =>
          c.stop().catch((error: unknown) => log.error({ err: error }, "stopping a controller")),
        ),
      );
    }));

  // Admission must work on every replica the Service may pick, so the webhooks
  // do not wait for leadership; nor does leader election wait for them.
  const webhookStarting: Promise<RunningWebhook> | undefined = options.webhook
    ? startWebhook(kubeConfig, { ...options.webhook, logger: log, image: options.image })
    : undefined;
  webhookStarting?.catch(() => {}); // awaited below; a failure surfaces there

  const { host, port } = listenAddress(options.httpAddress);
  // Ready when it can do its job: a standby always can; a leader once its informers have synced.
  const server: ProbeServer = await startProbeServer({
    host,
    port,
    ready: () => !leading || controllers.length > 0,
  });

  let elector: LeaderElector | undefined;
  if (options.leaderElection) {
    elector = new LeaderElector(kubeConfig, {
      namespace: options.leaseNamespace,
      name: "skiff-operator",
      identity: `${hostname()}_${randomUUID().slice(0, 8)}`,
      onStartedLeading: () => {
        leading = true;
        void startControllers();
      },
      onStoppedLeading: () => {
        leading = false;
        log.warn("stopped leading: stopping controllers");
        void stopControllers();
      },
      onError: (error) => log.warn({ err: error }, "leader election"),
    });
    elector.start();
  } else {
    leading = true;
    await startControllers();
  }

  let webhook: RunningWebhook | undefined;
  try {
    webhook = await webhookStarting;
  } catch (error) {
    await elector?.stop();
    leading = false;
    await stopControllers();
    await server.close();
    throw error;
  }
  return {
    httpPort: server.port,
    ...(webhook ? { webhook } : {}),
    isLeader: () => leading,
    async stop() {
      await elector?.stop();
      leading = false;
      await stopControllers();
      await webhook?.stop();
      await server.close();
    },
  };
}
