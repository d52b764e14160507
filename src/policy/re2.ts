import { RE2JS } from "re2js";

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

/** Why RE2 refuses a pattern, in RE2's words, or undefined when it accepts it. */
export function re2SyntaxProblem(pattern: string): string | undefined {
  try {
    compile(pattern);
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}
