/** The xDS benchmark's tables: one measure per row, Skiff beside go-control-plane and their ratio. */
import { fmt } from "../shared/report.js";

/** a/b with two decimals, or n/a when either is missing or b is 0. */
export function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0)
    return "n/a";
  return (a / b).toFixed(2);
}

export interface Row {
  measure: string;
  skiff?: number;
  peer?: number;
  digits?: number;
  /** Shown instead of the peer's number (n/a with a reason). */
  peerText?: string;
}

export function table(rows: Row[]): string {
  const lines = ["| measure | Skiff | go-control-plane | ratio (Skiff/peer) |", "|---|--:|--:|--:|"];
  for (const r of rows)
    lines.push(
      `| ${r.measure} | ${fmt(r.skiff, r.digits)} | ${r.peerText ?? fmt(r.peer, r.digits)} | ${r.peerText ? "n/a" : ratio(r.skiff, r.peer)} |`,
    );
  return lines.join("\n");
}
