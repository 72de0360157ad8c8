/**
 * Big-endian binary writing and reading: the one u64 codec (`writeU64`, `readU64`) and the one
 * growable byte writer (`ByteWriter`, with `ByteReader` its bounds-checked reader), shared by the
 * WAL and manifest codecs and the stream layer's keys and values. Varints are in varint.ts.
 *
 * u64 values are JS numbers and must be safe integers (< 2^53): `writeU64` refuses anything
 * else, `readU64` reports a larger value as -1, and ByteReader throws DecodeError for it (and for
 * any read past its end), which the codecs turn into CorruptionError with the object's key.
 */

export class DecodeError extends Error {}

const TWO_32 = 2 ** 32;

/** Writes `value`, an integer in [0, 2^32), as a big-endian u32 at `offset`; the caller guarantees 4 bytes of room. */
export function writeU32(out: Uint8Array, offset: number, value: number): void {
  out[offset] = value >>> 24;
  out[offset + 1] = (value >>> 16) & 0xff;
  out[offset + 2] = (value >>> 8) & 0xff;
  out[offset + 3] = value & 0xff;
}

/**
 * Writes `value` as a big-endian u64 at `offset`; the caller guarantees 8 bytes of room. Byte
 * arithmetic instead of a DataView: keys are built on every append, so nothing is allocated.
 * Throws RangeError unless `value` is a safe integer >= 0 (a bug in the caller, never input).
 */
export function writeU64(out: Uint8Array, offset: number, value: number): void {
  if (!(Number.isSafeInteger(value) && value >= 0)) throw new RangeError(`u64 value ${value} is not a safe integer >= 0`);
  const high = Math.floor(value / TWO_32);
  const low = value >>> 0;
  writeU32(out, offset, high);
  writeU32(out, offset + 4, low);
}

/**
 * Reads a big-endian u64 at `offset`; the caller guarantees 8 bytes. Returns -1 when the value is
 * above Number.MAX_SAFE_INTEGER (no u64 this project writes is), which callers treat as
 * corruption. No allocation: this runs per key in scans and compactions.
 */
export function readU64(bytes: Uint8Array, offset: number): number {
  const high = bytes[offset]! * 0x100_0000 + ((bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!);
  if (high > 0x1f_ffff) return -1;
  const low = bytes[offset + 4]! * 0x100_0000 + ((bytes[offset + 5]! << 16) | (bytes[offset + 6]! << 8) | bytes[offset + 7]!);
  return high * TWO_32 + low;
}

/** Reads a big-endian u64 at `offset` as a bigint (checksums and other full-width fields); the caller guarantees 8 bytes. */
export function readBigU64(bytes: Uint8Array, offset: number): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(offset);
}

/** Writes a u64 bigint (a checksum) big-endian at `offset`; the caller guarantees 8 bytes. */
export function writeBigU64(out: Uint8Array, offset: number, value: bigint): void {
  writeU32(out, offset, Number(value >> 32n));
  writeU32(out, offset + 4, Number(value & 0xffffffffn));
}

/** Copies up to this length run as a loop: cheaper than TypedArray.set for a few bytes. */
const SHORT_COPY_BYTES = 32;

/**
 * Copies `bytes` from index `from` on into `target` at `offset`: a loop for a few bytes (no
 * subarray), TypedArray.set for more.
 */
export function copyInto(target: Uint8Array, offset: number, bytes: Uint8Array, from = 0): void {
  const length = bytes.length - from;
  if (length <= SHORT_COPY_BYTES) {
    for (let i = 0; i < length; i++) target[offset + i] = bytes[from + i]!;
  } else {
    target.set(from === 0 ? bytes : bytes.subarray(from), offset);
  }
}

/**
 * A copy of `bytes` in memory of its own. Not `bytes.slice()`: on a Buffer (what fs reads and
 * the S3 SDK return) slice is a view of the same memory, and a caller that changed it would
 * change the original too.
 */
export function copyOf(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return copy;
}

/**
 * A fresh array of `size` bytes with an ArrayBuffer of its own (not Node's shared Buffer pool),
 * not zeroed: for a caller that writes every byte before it reads one (zeroing a 64 MiB L0 buffer
 * cost more than its checksums).
 */
export function unzeroedBytes(size: number): Uint8Array {
  return new Uint8Array(Buffer.allocUnsafeSlow(size).buffer, 0, size);
}

export class ByteWriter {
  #buffer: Buffer;
  #length = 0;

  constructor(initialBytes = 256) {
    this.#buffer = Buffer.allocUnsafe(initialBytes);
  }

  get length(): number {
    return this.#length;
  }

  // Each writer claims its room first: #claim may replace the buffer.
  u8(value: number): this {
    const at = this.#claim(1);
    this.#buffer[at] = value;
    return this;
  }

  u32(value: number): this {
    const at = this.#claim(4);
    this.#buffer.writeUInt32BE(value, at);
    return this;
  }

  u64(value: number): this {
    const at = this.#claim(8);
    writeU64(this.#buffer, at, value);
    return this;
  }

  bigU64(value: bigint): this {
    const at = this.#claim(8);
    this.#buffer.writeBigUInt64BE(value, at);
    return this;
  }

  bytes(value: Uint8Array): this {
    const at = this.#claim(value.length);
    this.#buffer.set(value, at);
    return this;
  }

  /** A u32 length followed by the bytes. */
  lengthPrefixed(value: Uint8Array): this {
    return this.u32(value.length).bytes(value);
  }

  /** The bytes written so far (a view: do not keep it across further writes). */
  view(): Buffer {
    return this.#buffer.subarray(0, this.#length);
  }

  /** A copy of the bytes written so far. */
  finish(): Uint8Array {
    return Uint8Array.prototype.slice.call(this.#buffer, 0, this.#length);
  }

  /** Makes room for `bytes` more bytes and returns where they go (the length moves past them). */
  #claim(bytes: number): number {
    const offset = this.#length;
    if (offset + bytes > this.#buffer.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.#buffer.length * 2, offset + bytes));
      this.#buffer.copy(grown, 0, 0, offset);
      this.#buffer = grown;
    }
    this.#length = offset + bytes;
    return offset;
  }
}

export class ByteReader {
  readonly #view: Buffer;
  #offset: number;

  constructor(bytes: Uint8Array, offset = 0) {
    this.#view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#offset = offset;
  }

  get offset(): number {
    return this.#offset;
  }

  get remaining(): number {
    return this.#view.length - this.#offset;
  }

  u8(): number {
    return this.#view[this.#take(1)]!;
  }

  u32(): number {
    return this.#view.readUInt32BE(this.#take(4));
  }

  u64(): number {
    const at = this.#take(8);
    const value = readU64(this.#view, at);
    if (value < 0) throw new DecodeError(`u64 value above 2^53 at offset ${at}`);
    return value;
  }

  bigU64(): bigint {
    return readBigU64(this.#view, this.#take(8));
  }

  /** A view of the next `length` bytes (shares memory with the input). */
  bytes(length: number): Uint8Array {
    const at = this.#take(length);
    return this.#view.subarray(at, at + length);
  }

  lengthPrefixed(): Uint8Array {
    return this.bytes(this.u32());
  }

  /** Where the next `bytes` bytes start (the offset moves past them); DecodeError when fewer are left. */
  #take(bytes: number): number {
    const at = this.#offset;
    if (at + bytes > this.#view.length) {
      throw new DecodeError(`needed ${bytes} bytes at offset ${at}, only ${this.#view.length - at} left`);
    }
    this.#offset = at + bytes;
    return at;
  }
}
