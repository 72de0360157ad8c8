/**
 * Bounds-checked binary writing and reading (big-endian), shared by the WAL and manifest codecs.
 *
 * ByteWriter grows as needed; ByteReader throws DecodeError on any read past its end, which the
 * codecs turn into CorruptionError with the object's key. u64 values are JS numbers and must be
 * safe integers: the reader refuses anything above Number.MAX_SAFE_INTEGER.
 */

export class DecodeError extends Error {}

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

export class ByteWriter {
  #buffer: Buffer;
  #length = 0;

  constructor(initialBytes = 256) {
    this.#buffer = Buffer.allocUnsafe(initialBytes);
  }

  get length(): number {
    return this.#length;
  }

  u8(value: number): this {
    this.#reserve(1);
    this.#buffer[this.#length++] = value;
    return this;
  }

  u32(value: number): this {
    this.#reserve(4);
    this.#buffer.writeUInt32BE(value, this.#length);
    this.#length += 4;
    return this;
  }

  u64(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`u64 value ${value} is not a safe non-negative integer`);
    this.#reserve(8);
    this.#buffer.writeUInt32BE(Math.floor(value / 0x1_0000_0000), this.#length);
    this.#buffer.writeUInt32BE(value >>> 0, this.#length + 4);
    this.#length += 8;
    return this;
  }

  bigU64(value: bigint): this {
    this.#reserve(8);
    this.#buffer.writeBigUInt64BE(value, this.#length);
    this.#length += 8;
    return this;
  }

  bytes(value: Uint8Array): this {
    this.#reserve(value.length);
    this.#buffer.set(value, this.#length);
    this.#length += value.length;
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

  #reserve(bytes: number): void {
    if (this.#length + bytes <= this.#buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.#buffer.length * 2, this.#length + bytes));
    this.#buffer.copy(grown, 0, 0, this.#length);
    this.#buffer = grown;
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
    this.#need(1);
    return this.#view[this.#offset++]!;
  }

  u32(): number {
    this.#need(4);
    const value = this.#view.readUInt32BE(this.#offset);
    this.#offset += 4;
    return value;
  }

  u64(): number {
    this.#need(8);
    const high = this.#view.readUInt32BE(this.#offset);
    const low = this.#view.readUInt32BE(this.#offset + 4);
    this.#offset += 8;
    const value = high * 0x1_0000_0000 + low;
    if (!Number.isSafeInteger(value)) throw new DecodeError(`u64 value above 2^53 at offset ${this.#offset - 8}`);
    return value;
  }

  bigU64(): bigint {
    this.#need(8);
    const value = this.#view.readBigUInt64BE(this.#offset);
    this.#offset += 8;
    return value;
  }

  /** A view of the next `length` bytes (shares memory with the input). */
  bytes(length: number): Uint8Array {
    this.#need(length);
    const value = this.#view.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    return value;
  }

  lengthPrefixed(): Uint8Array {
    return this.bytes(this.u32());
  }

  #need(bytes: number): void {
    if (this.#offset + bytes > this.#view.length) {
      throw new DecodeError(`needed ${bytes} bytes at offset ${this.#offset}, only ${this.#view.length - this.#offset} left`);
    }
  }
}
