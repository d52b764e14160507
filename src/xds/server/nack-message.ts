/**
 * A NACK's error_detail.message as the server keeps it (per type, for the
 * life of the stream, and into policy status): at most `max` code points,
 * never half a surrogate pair, and a string of its own. Slicing would keep
 * the whole received message alive behind the slice, and building it code
 * point by code point would keep a chain of one string per code point
 * (15 MiB for fifteen 32 Ki-code-point messages); a UTF-8 round trip
 * copies it flat and replaces any lone surrogate with U+FFFD.
 */
export function keptNackMessage(message: string, max: number): string {
  if (message.length <= max) return message;
  let units = 0;
  for (let points = 0; points < max && units < message.length; points++)
    units +=
      isHighSurrogate(message.charCodeAt(units)) && isLowSurrogate(message.charCodeAt(units + 1)) ? 2 : 1;
  return Buffer.from(message.slice(0, units), "utf8").toString("utf8");
}

const isHighSurrogate = (unit: number) => unit >= 0xd800 && unit <= 0xdbff;
const isLowSurrogate = (unit: number) => unit >= 0xdc00 && unit <= 0xdfff;
