/**
 * The control plane: creating, reconfiguring, deleting and listing streams, and the compaction
 * filter that deletes what trims and deletions left behind.
 *
 * Control operations run one at a time (a promise chain) and each waits until its batch is
 * durable before the next starts, so a check ("does the name exist?") always reads the state
 * every earlier operation left. Reads through the engine see durable data only.
 *
 * Deleting a stream removes its meta, tail and token keys and sets its trim point to
 * DELETED_TRIM_POINT: the id is never reused (ids come from a counter), every record and index
 * key of it is dropped by compaction, and the name can be created again as a new, empty stream.
 */
import { StreamExistsError, StreamNotFoundError } from "../errors.js";
import type { Engine, WriteOp } from "../engine/engine.js";
import type { CompactionFilter } from "../engine/engine-options.js";
import type { Clock } from "../util/clock.js";
import { applyConfigPatch, decodeStreamMeta, encodeStreamMeta, resolveStreamConfig, type StreamMeta } from "./stream-config.js";
import {
  KeyKind,
  STREAM_ID_COUNTER_KEY,
  allocateStreamId,
  decodeStreamIdKey,
  decodeStreamMetaKey,
  decodeU64Value,
  encodeTailValue,
  encodeU64Value,
  fencingTokenKey,
  listStreamsRange,
  prefixRange,
  seqNumOfKey,
  streamIdOfKey,
  streamMetaKey,
  tailKey,
  trimPointKey,
} from "./stream-keys.js";
import type { StreamConfigPatch } from "./types.js";
import type { ValidatedListOptions } from "./validate.js";

/** The trim point of a deleted stream: everything of it is below, so compaction drops it all. */
export const DELETED_TRIM_POINT = Number.MAX_SAFE_INTEGER;

/** A stream's name, creation time and config, as `listStreams()`, `createStream()` and `reconfigureStream()` return them. */
export interface StreamInfo {
  /** The stream's name. */
  name: string;
  /** When it was created, in ms since the epoch. */
  createdAtMs: number;
  /** Its current config. */
  config: StreamMeta["config"];
}

export class StreamRegistry {
  /** Durable trim points by stream id (deleted streams included); read by the compaction filter. */
  readonly trimPoints = new Map<number, number>();
  #queue: Promise<unknown> = Promise.resolve();
  /**
   * The stream-id counter's durable value, once read. The counter key is rewritten by every
   * create, and reading it back walks its versions in the memtable: caching it keeps creating
   * 10,000 streams linear. Forgotten after an engine reset (a create may have been lost).
   */
  #counterValue: Uint8Array | undefined;
  #counterKnown = false;

  constructor(
    private readonly engine: () => Engine,
    private readonly clock: Clock,
  ) {}

  /** Loads every durable trim point (called at open, before compaction can run). */
  async loadTrimPoints(engine: Engine): Promise<void> {
    for await (const entry of engine.scan(prefixRange(Uint8Array.of(KeyKind.trimPoint)))) {
      this.noteTrim(decodeStreamIdKey(entry.key, KeyKind.trimPoint), decodeU64Value(entry.value, "trim point"));
    }
  }

  /** After an engine reset: the counter is read again from durable state before the next create. */
  forgetCounter(): void {
    this.#counterKnown = false;
    this.#counterValue = undefined;
  }

  noteTrim(streamId: number, trimPoint: number): void {
    if (trimPoint > (this.trimPoints.get(streamId) ?? 0)) this.trimPoints.set(streamId, trimPoint);
  }

  async getMeta(name: string): Promise<StreamMeta | undefined> {
    const value = await this.engine().get(streamMetaKey(name));
    return value === undefined ? undefined : decodeStreamMeta(value, name);
  }

  create(name: string, patch: StreamConfigPatch): Promise<StreamMeta> {
    return this.#serially(async () => {
      const engine = this.engine();
      if ((await this.getMeta(name)) !== undefined) throw new StreamExistsError(name);
      if (!this.#counterKnown) {
        this.#counterValue = await engine.get(STREAM_ID_COUNTER_KEY);
        this.#counterKnown = true;
      }
      const { streamId, counterValue } = allocateStreamId(this.#counterValue);
      const nowMs = Math.floor(this.clock.nowMs());
      const meta: StreamMeta = { id: streamId, config: resolveStreamConfig(patch), createdAtMs: nowMs };
      await this.#writeDurably([
        { type: "put", key: STREAM_ID_COUNTER_KEY, value: counterValue },
        { type: "put", key: streamMetaKey(name), value: encodeStreamMeta(meta) },
        { type: "put", key: tailKey(streamId), value: encodeTailValue({ nextSeqNum: 0, lastTimestamp: 0, lastWriteMs: 0 }) },
      ]).catch((error: unknown) => {
        this.forgetCounter();
        throw error;
      });
      this.#counterValue = counterValue;
      return meta;
    });
  }

  reconfigure(name: string, patch: StreamConfigPatch): Promise<StreamMeta> {
    return this.#serially(async () => {
      const current = await this.getMeta(name);
      if (current === undefined) throw new StreamNotFoundError(name);
      const meta: StreamMeta = { ...current, config: applyConfigPatch(current.config, patch) };
      await this.#writeDurably([{ type: "put", key: streamMetaKey(name), value: encodeStreamMeta(meta) }]);
      return meta;
    });
  }

  /** Deletes the stream; `beforeWrite` runs first (the Log closes the stream's streamer there). */
  delete(name: string, beforeWrite: (meta: StreamMeta) => Promise<void>): Promise<void> {
    return this.#serially(async () => {
      const meta = await this.getMeta(name);
      if (meta === undefined) throw new StreamNotFoundError(name);
      await beforeWrite(meta);
      await this.#writeDurably([
        { type: "delete", key: streamMetaKey(name) },
        { type: "delete", key: tailKey(meta.id) },
        { type: "delete", key: fencingTokenKey(meta.id) },
        { type: "put", key: trimPointKey(meta.id), value: encodeU64Value(DELETED_TRIM_POINT) },
      ]);
      this.noteTrim(meta.id, DELETED_TRIM_POINT);
    });
  }

  async list(options: ValidatedListOptions): Promise<StreamInfo[]> {
    const range = listStreamsRange({ prefix: options.prefix, ...(options.startAfter === undefined ? {} : { startAfter: options.startAfter }) });
    const out: StreamInfo[] = [];
    if (range.end !== undefined && Buffer.compare(range.start, range.end) >= 0) return out;
    for await (const entry of this.engine().scan(range.end === undefined ? { start: range.start } : { start: range.start, end: range.end })) {
      const name = decodeStreamMetaKey(entry.key);
      const meta = decodeStreamMeta(entry.value, name);
      out.push({ name, createdAtMs: meta.createdAtMs, config: meta.config });
      if (out.length >= options.limit) break;
    }
    return out;
  }

  /** Record and timestamp-index keys are written once (a seq is never reused), so dead ones need no tombstone. */
  static readonly isWriteOnceKey = (key: Uint8Array): boolean => key[0] === KeyKind.record || key[0] === KeyKind.timestampIndex;

  /**
   * Keeps an entry unless it is a record or index entry below its stream's durable trim point,
   * or a leftover tail or token key of a deleted stream. Runs inside compaction: it must be
   * cheap, so it reads the ids and seqs straight from the key bytes (stream-keys.ts).
   */
  readonly compactionFilter: CompactionFilter = (key) => {
    const kind = key[0];
    if (kind !== KeyKind.record && kind !== KeyKind.timestampIndex && kind !== KeyKind.tail && kind !== KeyKind.fencingToken) return true;
    const streamId = streamIdOfKey(key);
    const trim = streamId === undefined ? undefined : this.trimPoints.get(streamId);
    if (trim === undefined) return true;
    if (kind === KeyKind.tail || kind === KeyKind.fencingToken) return trim !== DELETED_TRIM_POINT;
    const seqNum = seqNumOfKey(key);
    return seqNum === undefined || seqNum >= trim;
  };

  #serially<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(operation, operation);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  async #writeDurably(ops: WriteOp[]): Promise<void> {
    const engine = this.engine();
    await engine.whenWritable();
    await engine.whenDurable(engine.write(ops));
  }
}
