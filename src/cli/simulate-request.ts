import { dns1123LabelProblem, dns1123SubdomainProblem } from "../k8s/names.js";
import { parseIp } from "../net/ip.js";
import type { SimulateOptions, SimulateTarget } from "../simulate/simulate.js";
import { UsageError } from "./exit-status.js";

/** The flags of `skiff simulate` that describe the request, as parseArgs gives them. */
export interface RequestFlags {
  readonly from?: string;
  readonly "from-ip"?: string;
  readonly plaintext: boolean;
  readonly to?: string;
  readonly method: string;
  readonly path: string;
  readonly header?: readonly string[];
}

/**
 * The request the flags describe. Each flag must be something a real client
 * could send, or it throws a {@link UsageError} naming the flag: a request
 * no proxy would ever see answers nothing.
 */
export function simulateRequest(flags: RequestFlags): SimulateOptions {
  if (!flags.to) throw new UsageError("--to is required");
  if (!flags.from && !flags["from-ip"]) throw new UsageError("--from or --from-ip is required");
  const fromIp = flags["from-ip"];
  if (fromIp !== undefined && parseIp(fromIp) === undefined)
    throw new UsageError(`--from-ip ${fromIp}: not an IP address`);
  return {
    ...(flags.from ? { from: client(flags.from) } : {}),
    ...(fromIp !== undefined ? { fromIp } : {}),
    plaintext: flags.plaintext,
    to: target(flags.to),
    method: method(flags.method),
    path: path(flags.path),
    headers: headers(flags.header ?? []),
  };
}

/** `<service>.<namespace>[.svc[.<cluster domain>]]:<port>` */
function target(text: string): SimulateTarget {
  const usage = (why: string) => new UsageError(`--to ${text}: ${why}`);
  const colon = text.lastIndexOf(":");
  const [service = "", namespace = "", ...domain] = text
    .slice(0, colon === -1 ? undefined : colon)
    .split(".");
  if (colon === -1 || namespace === "" || (domain.length > 0 && domain[0] !== "svc"))
    throw usage("expected <service>.<namespace>:<port>");
  const problem = dns1123LabelProblem(service) ?? dns1123LabelProblem(namespace);
  if (problem) throw usage(problem);
  const port = text.slice(colon + 1);
  if (!/^[0-9]{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535)
    throw usage("the port must be from 1 to 65535");
  return { service, namespace, port: Number(port), authority: text };
}

/** `<namespace>/<serviceaccount>` */
function client(text: string): { namespace: string; serviceAccount: string } {
  const [namespace = "", serviceAccount = "", ...rest] = text.split("/");
  if (namespace === "" || serviceAccount === "" || rest.length > 0)
    throw new UsageError(`--from ${text}: expected <namespace>/<serviceaccount>`);
  const problem = dns1123LabelProblem(namespace) ?? dns1123SubdomainProblem(serviceAccount);
  if (problem) throw new UsageError(`--from ${text}: ${problem}`);
  return { namespace, serviceAccount };
}

/** An HTTP token (RFC 9110): the characters a method or a header name may have. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Whether text holds a character no header value or path may (CR, LF, NUL...): HTTP codecs refuse them. Tab is allowed. */
function hasControlCharacter(text: string): boolean {
  return [...text].some((c) => (c < " " && c !== "\t") || c === "\x7f");
}

function method(text: string): string {
  if (!TOKEN.test(text)) throw new UsageError(`--method ${JSON.stringify(text)}: not an HTTP method`);
  return text;
}

function path(text: string): string {
  if (!text.startsWith("/")) throw new UsageError(`--path ${JSON.stringify(text)}: must start with /`);
  if (/\s/.test(text) || hasControlCharacter(text))
    throw new UsageError(
      `--path ${JSON.stringify(text)}: spaces and control characters must be percent-encoded`,
    );
  return text;
}

/** `-H 'name: value'` lines to a map with lower-case names; a repeated header is joined with ",". */
function headers(lines: readonly string[]): Record<string, string> {
  const result: Record<string, string> = {};
  for (const line of lines) {
    const usage = (why: string) => new UsageError(`-H ${JSON.stringify(line)}: ${why}`);
    // A pseudo-header (":authority: x") starts with its own colon.
    const colon = line.indexOf(":", line.startsWith(":") ? 1 : 0);
    if (colon <= 0) throw usage("expected 'name: value'");
    const name = line.slice(0, colon).toLowerCase();
    if (!TOKEN.test(name.startsWith(":") ? name.slice(1) : name))
      throw usage("the name is not an HTTP token");
    const value = line.slice(colon + 1).trim();
    if (hasControlCharacter(value)) throw usage("the value has a control character (CR, LF, NUL...)");
    result[name] = result[name] === undefined ? value : `${result[name]},${value}`;
  }
  return result;
}
