import { spawn } from "node:child_process";
import type { Logger } from "pino";

export interface EnvoyProcess {
  /** Resolves with Envoy's exit code (128 + the signal's number when a signal ended it). */
  readonly exited: Promise<number>;
  /** Passes a signal on to Envoy. */
  signal(signal: NodeJS.Signals): void;
}

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGTERM: 15, SIGINT: 2, SIGKILL: 9 };

/**
 * Starts Envoy as the agent's child, sharing its stdout and stderr (the
 * container's log), as pilot-agent does. The agent lives as long as Envoy
 * does: the container's state is Envoy's.
 */
export function startEnvoy(binary: string, args: readonly string[], logger: Logger): EnvoyProcess {
  const child = spawn(binary, args, { stdio: "inherit" });
  const exited = new Promise<number>((resolve) => {
    child.once("error", (error) => {
      logger.error({ err: error, binary }, "cannot start Envoy");
      resolve(127);
    });
    child.once("exit", (code, signal) => {
      logger.info({ code, signal }, "Envoy exited");
      resolve(code ?? 128 + (signal ? (SIGNAL_NUMBERS[signal] ?? 0) : 0));
    });
  });
  return {
    exited,
    signal(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}
