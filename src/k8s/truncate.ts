/**
 * Cutting text for the API server. A JavaScript string counts UTF-16 code
 * units, so `.slice(0, n)` can split a surrogate pair (an emoji, say) and
 * leave half of it. JSON.stringify writes that half as an escape such as
 * "\ud83d", which the API server's YAML decoder, used for server-side apply,
 * refuses: the whole status write failed, on every retry.
 *
 * Both helpers cut on code points and replace any lone surrogate the text
 * already had with U+FFFD, so what they return is always well-formed.
 */

/**
 * At most `max` code points, as Kubernetes counts an OpenAPI `maxLength`
 * (a condition's message, `lastNackMessage`).
 */
export function truncateCodePoints(text: string, max: number): string {
  let out = "";
  let count = 0;
  for (const codePoint of text) {
    if (count === max) break;
    out += wellFormed(codePoint);
    count++;
  }
  return out;
}

/** At most `maxBytes` bytes of UTF-8, as Kubernetes counts some limits with Go's len() (an Event's note). */
export function truncateUtf8(text: string, maxBytes: number): string {
  let out = "";
  let bytes = 0;
  for (const codePoint of text) {
    const next = wellFormed(codePoint);
    bytes += Buffer.byteLength(next, "utf8");
    if (bytes > maxBytes) break;
    out += next;
  }
  return out;
}

/** A string iterator yields a lone surrogate as a one-unit string; every other code point is whole. */
function wellFormed(codePoint: string): string {
  const unit = codePoint.charCodeAt(0);
  return codePoint.length === 1 && unit >= 0xd800 && unit <= 0xdfff ? "\ufffd" : codePoint;
}
