/**
 * A minimal protobuf writer for the envelopes of ADS responses: strings,
 * pre-encoded bytes and nested messages of known size, written in one pass
 * into a buffer sized beforehand. Encoding a response of a thousand
 * resources through the reflective encoder (create, then toBinary) built an
 * object per resource and held a push's event-loop turn for tens of
 * milliseconds; here it is one allocation and copies. Fields are written in
 * the order the caller gives, which must be the order protobuf-es writes
 * them (by field number), so the bytes are the same (tested).
 */

const LENGTH_DELIMITED = 2;
const utf8 = new TextEncoder();

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** A string's UTF-8 bytes, cached for the few strings repeated in every entry (type URLs). */
const repeated = new Map<string, Uint8Array>();
export function utf8Of(text: string, cache = false): Uint8Array {
  if (!cache) return utf8.encode(text);
  let bytes = repeated.get(text);
  if (!bytes) {
    bytes = utf8.encode(text);
    // Type URLs are a handful; anything else asked to be cached is bounded the same way.
    if (repeated.size < 64) repeated.set(text, bytes);
  }
  return bytes;
}

/** The size of a length-delimited field holding `length` bytes (proto3: an empty one is left out). */
export function fieldSize(field: number, length: number): number {
  return length === 0 ? 0 : varintSize(field << 3) + varintSize(length) + length;
}

/** The size of a length-delimited field always written, even empty (a nested message). */
export function messageFieldSize(field: number, length: number): number {
  return varintSize(field << 3) + varintSize(length) + length;
}

export class EnvelopeWriter {
  readonly bytes: Uint8Array;
  private pos = 0;

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
  }

  /** A string or bytes field; left out when empty, as proto3 does. */
  field(field: number, value: Uint8Array): this {
    if (value.length > 0) this.message(field, value.length).raw(value);
    return this;
  }

  /** An element of a repeated string or bytes field: written even when empty. */
  element(field: number, value: Uint8Array): this {
    this.message(field, value.length).raw(value);
    return this;
  }

  /** The header of a nested message of `length` bytes; its fields follow. */
  message(field: number, length: number): this {
    this.varint((field << 3) | LENGTH_DELIMITED);
    this.varint(length);
    return this;
  }

  /** Everything was written: the size given was exact. */
  finish(): Uint8Array {
    if (this.pos !== this.bytes.length)
      throw new Error(`envelope size ${this.bytes.length} computed, ${this.pos} written`);
    return this.bytes;
  }

  private raw(value: Uint8Array): void {
    this.bytes.set(value, this.pos);
    this.pos += value.length;
  }

  private varint(n: number): void {
    while (n >= 0x80) {
      this.bytes[this.pos++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    this.bytes[this.pos++] = n;
  }
}
