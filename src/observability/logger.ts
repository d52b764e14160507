import { pino, type Logger } from "pino";

/**
 * The process logger: structured JSON on stderr, so stdout stays free for a
 * command's own output (such as `skiff dev`'s READY line). SKIFF_LOG_LEVEL
 * sets the level (default info).
 */
export function createLogger(name: string): Logger {
  return pino({ name, level: process.env.SKIFF_LOG_LEVEL ?? "info" }, pino.destination(2));
}
