/**
 * Unix time in milliseconds with sub-millisecond precision, the clock the
 * load generator stamps its ACKs with (Go's time.Now().UnixNano()).
 *
 * Date.now() is the same clock but whole milliseconds; performance.timeOrigin
 * plus performance.now() is finer, but it is the Unix time at start-up
 * carried forward on the monotonic clock, so it drifts if the system clock is
 * adjusted. clockDriftMs says by how much, so a report can show it.
 */
export function unixMs(): number {
  return performance.timeOrigin + performance.now();
}

/** unixMs() minus Date.now(): within ±1 ms while the system clock is not adjusted. */
export function clockDriftMs(): number {
  return unixMs() - Date.now();
}
