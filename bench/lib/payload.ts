/**
 * Bench payloads: incompressible values and distinct record keys, made cheaply enough that the
 * generator does not show up in the measurement.
 *
 * Values are views into one pool of random bytes, taken at consecutive offsets and wrapping
 * around, so no two values in the same object repeat unless more than the pool size was written
 * (16 MiB by default): nothing can compress them, and no random bytes are drawn while timing.
 * Callers that must not share memory between values copy them.
 */
import { randomBytes } from "node:crypto";

export class ValuePool {
  readonly #pool: Buffer;
  #offset = 0;

  constructor(poolBytes = 16 * 1024 * 1024) {
    this.#pool = randomBytes(poolBytes);
  }

  /** The next `length` random bytes (a view into the pool, not a copy). */
  next(length: number): Uint8Array {
    if (length > this.#pool.length) throw new Error(`value of ${length} bytes exceeds the pool of ${this.#pool.length}`);
    if (this.#offset + length > this.#pool.length) this.#offset = 0;
    const view = this.#pool.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    return view;
  }
}

/**
 * A distinct, ascending key per (writer, counter): `rec/<writer:2>/<counter:12>`, 19 bytes. Keys
 * of one writer ascend, so a scan returns them in write order.
 */
export function recordKey(writer: number, counter: number): Uint8Array {
  return Buffer.from(`rec/${String(writer).padStart(2, "0")}/${String(counter).padStart(12, "0")}`, "latin1");
}

/** Length-prefixed frames `[u32 keyLen][u32 valueLen][key][value]` of several records in one buffer. */
export function encodeFrames(records: readonly { key: Uint8Array; value: Uint8Array }[]): Uint8Array {
  let total = 0;
  for (const record of records) total += 8 + record.key.length + record.value.length;
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (const { key, value } of records) {
    out.writeUInt32BE(key.length, at);
    out.writeUInt32BE(value.length, at + 4);
    out.set(key, at + 8);
    out.set(value, at + 8 + key.length);
    at += 8 + key.length + value.length;
  }
  return out;
}

/** Shaped as the engine's put op, so a batch can be passed to `engine.write` as it is. */
export interface PutRecord {
  type: "put";
  key: Uint8Array;
  value: Uint8Array;
}

/** Makes each writer's next batch of `batchRecords` records with `valueBytes` values and distinct keys. */
export class BatchMaker {
  readonly #pool: ValuePool;
  readonly #counters: number[] = [];

  constructor(
    readonly valueBytes: number,
    readonly batchRecords: number,
    pool = new ValuePool(),
  ) {
    this.#pool = pool;
  }

  next(writer: number): PutRecord[] {
    const records: PutRecord[] = new Array<PutRecord>(this.batchRecords);
    let counter = this.#counters[writer] ?? 0;
    for (let i = 0; i < this.batchRecords; i++) records[i] = { type: "put", key: recordKey(writer, counter++), value: this.#pool.next(this.valueBytes) };
    this.#counters[writer] = counter;
    return records;
  }
}

/** Parameters every time-bound write case shares. */
export interface WriteLoadParams {
  valueBytes: number;
  batchRecords: number;
  writers: number;
  warmupMs: number;
  durationMs: number;
}
