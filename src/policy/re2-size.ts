/**
 * The largest program a pattern may compile to, estimated from its text
 * (re2SizeEstimate) before compiling, which bounds what one check costs.
 * Envoy refuses programs over 100 instructions unless its runtime key
 * re2.max_program_size.error_level says otherwise: the sidecar bootstrap
 * sets it (ENVOY_RE2_MAX_PROGRAM_SIZE), so that Envoy takes every pattern
 * admission takes.
 */
export const MAX_PROGRAM_SIZE = 1000;

/**
 * An upper estimate of the size of the program RE2 compiles a pattern to,
 * read from the pattern's text in one pass, with RE2's own size rules
 * (a repetition `x{n,m}` costs m copies of x, nested ones multiply).
 *
 * Compiling is what costs: re2js accepts programs of up to 1.4 million
 * instructions, and a 1 KiB pattern of `a{2,1000}` takes over a second,
 * while a pattern's text says its size at once. Patterns that are not RE2
 * syntax get some estimate; compiling them then says what is wrong.
 */
export function re2SizeEstimate(pattern: string): number {
  interface Group {
    /** Sizes of the finished alternatives. */
    alternatives: number[];
    /** Size of the alternative being read. */
    current: number;
    /** Size of the last atom, which a repetition operator applies to. */
    last: number;
    /** A capturing group costs two instructions more. */
    captures: boolean;
  }
  const open = (captures: boolean): Group => ({ alternatives: [], current: 0, last: 0, captures });
  const stack: Group[] = [open(false)];
  const top = () => stack[stack.length - 1]!;
  const atom = (size: number) => {
    top().current += size;
    top().last = size;
  };
  const repeat = (sized: (sub: number) => number) => {
    const group = top();
    const repeated = sized(group.last);
    group.current += repeated - group.last;
    group.last = repeated;
  };
  const close = (group: Group) =>
    [...group.alternatives, group.current].reduce((a, b) => a + b, 0) +
    group.alternatives.length +
    (group.captures ? 2 : 0);

  let i = 0;
  const skipPast = (end: string) => {
    const at = pattern.indexOf(end, i);
    i = at === -1 ? pattern.length : at + end.length;
  };
  while (i < pattern.length) {
    const c = pattern[i]!;
    i += 1;
    if (c === "\\") {
      const next = pattern[i];
      i += 1;
      if (next === "Q") {
        // \Q...\E: each character a literal.
        const start = i;
        skipPast("\\E");
        for (let k = start; k < i; k += 1) atom(1);
      } else if ((next === "p" || next === "P" || next === "x") && pattern[i] === "{") {
        skipPast("}");
        atom(1);
      } else {
        atom(1);
      }
    } else if (c === "[") {
      // A character class is one instruction: skip to its closing bracket.
      if (pattern[i] === "^") i += 1;
      if (pattern[i] === "]") i += 1;
      while (i < pattern.length && pattern[i] !== "]") {
        if (pattern[i] === "\\") i += 2;
        else if (pattern.startsWith("[:", i)) skipPast(":]");
        else i += 1;
      }
      i += 1;
      atom(1);
    } else if (c === "(") {
      if (pattern[i] !== "?") {
        stack.push(open(true));
        continue;
      }
      const flags = /^\?[-a-zA-Z]*\)/.exec(pattern.slice(i, i + 16));
      if (flags) {
        i += flags[0].length; // (?i) sets flags; it is not a group
      } else if (pattern.startsWith("?P<", i) || pattern.startsWith("?<", i)) {
        skipPast(">");
        stack.push(open(true));
      } else {
        skipPast(":");
        stack.push(open(false));
      }
    } else if (c === ")" && stack.length > 1) {
      atom(close(stack.pop()!));
    } else if (c === "|") {
      top().alternatives.push(top().current);
      top().current = 0;
      top().last = 0;
    } else if (c === "*") {
      repeat((sub) => sub + 2);
    } else if (c === "+" || c === "?") {
      repeat((sub) => sub + 1);
    } else if (c === "{" && /^[0-9]+(,[0-9]*)?\}/.test(pattern.slice(i, i + 24))) {
      const [, min, comma, max] = /^([0-9]+)(,([0-9]*))?\}/.exec(pattern.slice(i, i + 24))!;
      i = pattern.indexOf("}", i) + 1;
      const n = Number(min);
      const m = comma === undefined ? n : max === "" || max === undefined ? -1 : Number(max);
      repeat((sub) => (m === -1 ? (n === 0 ? sub + 2 : 1 + n * sub) : m * sub + (m - n)));
    } else {
      atom(1);
    }
  }
  while (stack.length > 1) atom(close(stack.pop()!));
  return close(stack[0]!);
}
