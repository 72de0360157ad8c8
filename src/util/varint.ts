/**
 * Unsigned LEB128 varints: the one varint codec of every binary format here (SST rows and index
 * entries, stored record values).
 *
 * Only u32 values are supported (at most 5 bytes): every varint durastream writes is a byte
 * length or a count, and none comes near 4 GiB. The writer is canonical (the fewest bytes), and
 * decoding is strict: a varint that runs past its limit, is longer than 5 bytes, overflows u32 or
 * is not canonical (a trailing zero group, e.g. `80 00` for 0) is refused, never silently read,
 * so a corrupt length can not turn into a plausible one and every value has exactly one
 * encoding.
 *
 *   value 300 = 0b1_0010_1100  ->  bytes AC 02  (low 7 bits first, high bit = "more follows")
 */

/** The largest value a varint here can hold. */
export const MAX_VARINT_U32 = 0xffff_ffff;

/** The most bytes a u32 varint takes. */
export const MAX_VARINT_BYTES = 5;

/** Number of bytes `value` takes as a varint. */
export function varintBytes(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x20_0000) return 3;
  if (value < 0x1000_0000) return 4;
  return 5;
}

/**
 * Writes `value` at `pos` and returns the position after it. The caller guarantees room for
 * `varintBytes(value)` bytes and that `value` is an integer in [0, MAX_VARINT_U32].
 */
export function writeVarint(buf: Uint8Array, pos: number, value: number): number {
  let rest = value >>> 0;
  while (rest >= 0x80) {
    buf[pos++] = (rest & 0x7f) | 0x80;
    rest >>>= 7;
  }
  buf[pos++] = rest;
  return pos;
}

/**
 * A read position in a byte array, advanced by the readers. One object instead of
 * `[value, pos]` tuples keeps the hot decoding loops free of allocations.
 */
export interface ByteCursor {
  pos: number;
}

/**
 * Reads a varint at `cursor.pos` (not past `limit`) and advances the cursor. Returns -1, and
 * leaves the cursor where it was, when the varint is truncated, longer than 5 bytes, larger than
 * u32 or not canonical: the caller turns that into an error that names the object
 * (`varintProblem` says which of these it was).
 */
export function readVarint(buf: Uint8Array, cursor: ByteCursor, limit: number): number {
  let pos = cursor.pos;
  let result = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    if (pos >= limit) return -1;
    const byte = buf[pos++] as number;
    if (shift === 28 && byte > 0x0f) return -1;
    result += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) {
      if (byte === 0 && shift > 0) return -1;
      cursor.pos = pos;
      return result;
    }
  }
  return -1;
}

/** Why `readVarint` refused the varint at `pos` ("truncated", "non-canonical", "too large" for u32, "longer than 5 bytes"; undefined if it is valid). */
export function varintProblem(buf: Uint8Array, pos: number, limit: number): string | undefined {
  for (let i = 0; i < MAX_VARINT_BYTES; i++) {
    if (pos + i >= limit) return "truncated";
    const byte = buf[pos + i] as number;
    if (i === MAX_VARINT_BYTES - 1 && byte > 0x0f) return byte >= 0x80 ? `longer than ${MAX_VARINT_BYTES} bytes` : "too large";
    if (byte < 0x80) return byte === 0 && i > 0 ? "non-canonical" : undefined;
  }
  return `longer than ${MAX_VARINT_BYTES} bytes`;
}
