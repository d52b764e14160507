import { RE2JS } from "re2js";
import { MAX_PROGRAM_SIZE, re2SizeEstimate } from "./re2-size.js";

export { MAX_PROGRAM_SIZE };

/**
 * The regexes of Skiff's objects, read as Envoy reads the `safe_regex` that
 * the translator writes for them: RE2 syntax, matched against the whole
 * value (RE2::FullMatch).
 *
 * re2js is a port of RE2, not a translation to JavaScript's engine: it
 * refuses what RE2 refuses (lookaround, backreferences, `\u`), and it
 * matches in time linear in the input, so a pattern such as `(a+)+b` cannot
 * hang `skiff simulate`. (re2-wasm, the other RE2 package in node_modules,
 * has a fixed 16 MiB heap that one short pattern such as `[\pL\pN]{1000}`
 * exhausts, which breaks it for the rest of the process.)
 */

/** Each pattern is compiled once; the CLI bounds its input, and with it this cache. */
const compiled = new Map<string, RE2JS>();

function compile(pattern: string): RE2JS {
  let re = compiled.get(pattern);
  if (!re) {
    re = RE2JS.compile(pattern);
    compiled.set(pattern, re);
  }
  return re;
}

/** Whether the whole value matches the pattern; throws RE2's error on a pattern RE2 refuses. */
export function fullMatch(pattern: string, value: string): boolean {
  return compile(pattern).testExact(value);
}

/**
 * Verdicts of re2SyntaxProblem for the patterns seen last. compile checks
 * every TrafficPolicy on each run and the webhook on each write, so a
 * verdict is worth keeping; but whoever can write a TrafficPolicy chooses
 * the patterns, so the memory is bounded, and holds no compiled program:
 * at most MAX_VERDICTS patterns of at most MAX_CACHED_PATTERN characters
 * (under 8 MiB). A longer pattern is judged each time: the API server
 * admits none (the CRDs' maxLength), but anyone who reaches the webhook can
 * send one of megabytes, and 4096 of those were gigabytes kept.
 */
const verdicts = new Map<string, string | undefined>();
const MAX_VERDICTS = 4096;
/** The CRDs' maxLength for a regex. */
const MAX_CACHED_PATTERN = 1024;

/**
 * Why RE2 refuses a pattern, in RE2's words, or undefined when it accepts
 * it. A pattern whose program would be over MAX_PROGRAM_SIZE is refused
 * without compiling it.
 */
export function re2SyntaxProblem(pattern: string): string | undefined {
  if (verdicts.has(pattern)) return verdicts.get(pattern);
  let problem: string | undefined;
  if (re2SizeEstimate(pattern) > MAX_PROGRAM_SIZE) {
    problem = `too large: its RE2 program would have over ${MAX_PROGRAM_SIZE} instructions`;
  } else {
    try {
      RE2JS.compile(pattern);
    } catch (error) {
      problem = error instanceof Error ? error.message : String(error);
    }
  }
  if (pattern.length > MAX_CACHED_PATTERN) return problem;
  if (verdicts.size >= MAX_VERDICTS) verdicts.delete(verdicts.keys().next().value!);
  verdicts.set(pattern, problem);
  return problem;
}
