/** Lines of context around each change, as diff -u. */
const CONTEXT = 3;
/** Beyond this many cells the line-by-line comparison is skipped and the texts are shown as one change. */
const MAX_CELLS = 20_000_000;

type Edit = { readonly op: " " | "-" | "+"; readonly line: string; readonly a: number; readonly b: number };

/**
 * A unified diff (diff -u) of two texts, line by line, or "" when they are
 * equal. Pure. The comparison is a longest common subsequence, quadratic, so
 * very large texts are shown as one removal and one addition.
 */
export function unifiedDiff(
  before: string,
  after: string,
  labels: { before: string; after: string },
): string {
  if (before === after) return "";
  const a = before.split("\n");
  const b = after.split("\n");
  const edits = a.length * b.length > MAX_CELLS ? replaceAll(a, b) : lcsEdits(a, b);
  const out = [`--- ${labels.before}`, `+++ ${labels.after}`];
  for (const hunk of hunks(edits)) {
    const first = hunk[0]!;
    const oldCount = hunk.filter((e) => e.op !== "+").length;
    const newCount = hunk.filter((e) => e.op !== "-").length;
    out.push(`@@ -${first.a + 1},${oldCount} +${first.b + 1},${newCount} @@`);
    for (const edit of hunk) out.push(`${edit.op}${edit.line}`);
  }
  return out.join("\n");
}

function replaceAll(a: string[], b: string[]): Edit[] {
  return [
    ...a.map((line, i) => ({ op: "-" as const, line, a: i, b: 0 })),
    ...b.map((line, j) => ({ op: "+" as const, line, a: a.length, b: j })),
  ];
}

function lcsEdits(a: string[], b: string[]): Edit[] {
  const n = a.length;
  const m = b.length;
  // lengths[i][j]: the LCS of a[i..] and b[j..], in one flat array.
  const lengths = new Uint32Array((n + 1) * (m + 1));
  const at = (i: number, j: number) => i * (m + 1) + j;
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      lengths[at(i, j)] =
        a[i] === b[j]
          ? lengths[at(i + 1, j + 1)]! + 1
          : Math.max(lengths[at(i + 1, j)]!, lengths[at(i, j + 1)]!);
  const edits: Edit[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) edits.push({ op: " ", line: a[i]!, a: i++, b: j++ });
    else if (j < m && (i === n || lengths[at(i, j + 1)]! > lengths[at(i + 1, j)]!))
      edits.push({ op: "+", line: b[j]!, a: i, b: j++ });
    else edits.push({ op: "-", line: a[i]!, a: i++, b: j });
  }
  return edits;
}

/** The changes with CONTEXT unchanged lines around each, nearby ones merged. */
function hunks(edits: Edit[]): Edit[][] {
  const changed = edits.flatMap((edit, index) => (edit.op === " " ? [] : [index]));
  const result: Edit[][] = [];
  let start = -1;
  let end = -1;
  for (const index of changed) {
    if (start >= 0 && index - CONTEXT <= end + CONTEXT) {
      end = index;
      continue;
    }
    if (start >= 0) result.push(edits.slice(Math.max(0, start - CONTEXT), end + CONTEXT + 1));
    start = index;
    end = index;
  }
  if (start >= 0) result.push(edits.slice(Math.max(0, start - CONTEXT), end + CONTEXT + 1));
  return result;
}
