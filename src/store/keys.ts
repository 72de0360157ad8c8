/**
 * Key rules shared by every ObjectStore, and range arithmetic shared by the implementations.
 *
 * Keys are non-empty strings of at most MAX_OBJECT_KEY_BYTES UTF-8 bytes, without NUL. Each
 * store may add rules of its own (LocalStore refuses keys that would escape its root).
 */
import { InvalidKeyError, InvalidRangeError, ValidationError } from "../errors.js";
import type { ByteRange } from "./object-store.js";
import { MAX_OBJECT_KEY_BYTES } from "../limits.js";

export function checkKey(key: string): void {
  if (typeof key !== "string" || key.length === 0) throw new InvalidKeyError(String(key), "keys must be non-empty strings");
  if (key.includes("\0")) throw new InvalidKeyError(key, "keys must not contain NUL");
  if (Buffer.byteLength(key, "utf8") > MAX_OBJECT_KEY_BYTES) {
    throw new InvalidKeyError(key, `keys must be at most ${MAX_OBJECT_KEY_BYTES} UTF-8 bytes`);
  }
}

/** Checks a range's shape (before the object's size is known). */
export function checkRangeShape(key: string, range: ByteRange): void {
  const { offset, length } = range;
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new ValidationError(`range offset for ${JSON.stringify(key)} must be a non-negative integer, got ${offset}`);
  }
  if (length !== undefined && (!Number.isSafeInteger(length) || length < 0)) {
    throw new ValidationError(`range length for ${JSON.stringify(key)} must be a non-negative integer, got ${length}`);
  }
}

/** Resolves a range against an object's size: returns [start, end) or throws InvalidRangeError. */
export function resolveRange(key: string, size: number, range: ByteRange): [number, number] {
  checkRangeShape(key, range);
  const start = range.offset;
  const end = range.length === undefined ? size : start + range.length;
  if (start > size || end > size) {
    throw new InvalidRangeError(key, `asked for bytes [${start}, ${end}) of an object of ${size} bytes`);
  }
  return [start, end];
}

/** Compares keys the way every store lists them (UTF-16 code units; byte order for ASCII). */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
