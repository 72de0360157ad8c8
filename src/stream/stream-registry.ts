/**
 * The control plane: creating, reconfiguring, deleting and listing streams, and the compaction
 * filter that deletes what trims and deletions left behind.
 *
 * Control operations are group-committed like appends: each writes its batch at once (many
 * share one WAL flush) and is acknowledged once that batch is durable. Operations on one name
 * decide one at a time, in call order, against the state the previous one left: its written but
 * not yet durable batch (`#pending`) if there is one, else the durable state. A refusal judged
 * against a pending batch is answered only once that batch is durable. Reads through the engine
 * see durable data only; `getMeta` adds the pending batches, so a stream whose creation is on
 * its way can take appends (they are written after it, so never durable before it).
 *
 * Deleting a stream removes its meta, tail and token keys and sets its trim point to
 * DELETED_TRIM_POINT: the id is never reused (ids come from a counter), every record and index
 * key of it is dropped by compaction, and the name can be created again as a new, empty stream.
 */
import { SstCompactedAwayError, StorageError, StreamExistsError, StreamNotFoundError } from "../errors.js";
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
import { DELETED_TRIM_POINT, isWriteOnceKey, trimPointFilter } from "./stream-filter.js";
import { MAX_FRUITLESS_SCAN_RESTARTS, STREAM_IDS_PER_COUNTER_WRITE } from "../limits.js";
import type { StreamConfigPatch } from "./types.js";
import type { ValidatedListOptions } from "./validate.js";

export { DELETED_TRIM_POINT } from "./stream-filter.js";

/** A stream's name, creation time and config, as `listStreams()`, `createStream()` and `reconfigureStream()` return them. */
export interface StreamInfo {
  /** The stream's name. */
  name: string;
  /** When it was created, in ms since the epoch. */
  createdAtMs: number;
  /** Its current config. */
  config: StreamMeta["config"];
}

/** A control batch written but not yet durable: the name's state once it is. */
interface PendingControl {
  /** The stream's meta after the batch; undefined for a deletion. */
  meta: StreamMeta | undefined;
  engineSeq: number;
}

/** What a control operation decided to write, and what it answers once that is durable. */
interface ControlWrite<T> {
  ops: WriteOp[];
  meta: StreamMeta | undefined;
  result: T;
  /** Runs once the batch is written (not yet durable), before anything else can decide. */
  onWritten?: () => void;
  /** Runs once the batch is durable, before the operation is answered. */
  onDurable?: () => void;
}

export class StreamRegistry {
  /** Durable trim points by stream id (deleted streams included); read by the compaction filter. */
  readonly trimPoints = new Map<number, number>();
  /** Control batches written and not yet durable, by name (the last one of each name). */
  readonly #pending = new Map<string, PendingControl>();
  /** Per name, the turn of the last operation to decide: the next one waits for it. */
  readonly #turns = new Map<string, Promise<void>>();
  /** Engine resets seen: a decision that spans one is not written (the state it read may be gone). */
  #resets = 0;
  /**
   * The next stream id, and the counter key's value (every id below it may be taken), once read.
   * A creation writes the counter only when no reserved id is left: then its batch reserves the
   * next STREAM_IDS_PER_COUNTER_WRITE ids. A later creation's batch is never durable
   * without that one (engine seqs become durable in order), so an id is never used unless a
   * durable counter lies above it. Forgotten after an engine reset (the store says what was kept).
   */
  #nextStreamId = 0;
  #reservedBelowId = 0;
  #counterKnown = false;
  #counterLoading: Promise<void> | undefined;

  constructor(
    private readonly engine: () => Engine,
    private readonly clock: Clock,
  ) {}

  /** Loads every durable trim point (called at open, before compaction can run). */
  async loadTrimPoints(engine: Engine): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        for await (const entry of engine.scan(prefixRange(Uint8Array.of(KeyKind.trimPoint)))) {
          this.noteTrim(decodeStreamIdKey(entry.key, KeyKind.trimPoint), decodeU64Value(entry.value, "trim point"));
        }
        return;
      } catch (error) {
        // A read-only log's SST compacted away under the scan (the engine reloaded its manifest):
        // scan again from the start; noting a trim point twice changes nothing.
        if (!(error instanceof SstCompactedAwayError) || attempt >= MAX_FRUITLESS_SCAN_RESTARTS) throw error;
      }
    }
  }

  /**
   * After an engine reset: pending batches failed (or their outcome is settled by recovery), so
   * state is read again from the store, the counter too. Returns the names whose creation was
   * pending: streamers loaded for them must go (their stream may not exist).
   */
  onReset(): string[] {
    this.#resets++;
    this.#counterKnown = false;
    const created = [...this.#pending].filter(([, pending]) => pending.meta !== undefined).map(([name]) => name);
    this.#pending.clear();
    return created;
  }

  noteTrim(streamId: number, trimPoint: number): void {
    if (trimPoint > (this.trimPoints.get(streamId) ?? 0)) this.trimPoints.set(streamId, trimPoint);
  }

  /** The stream's meta, its pending control batch included (see the file comment). */
  async getMeta(name: string): Promise<StreamMeta | undefined> {
    const pending = this.#pending.get(name);
    return pending !== undefined ? pending.meta : this.#durableMeta(name);
  }

  async #durableMeta(name: string): Promise<StreamMeta | undefined> {
    const value = await this.engine().get(streamMetaKey(name));
    return value === undefined ? undefined : decodeStreamMeta(value, name);
  }

  create(name: string, patch: StreamConfigPatch): Promise<StreamMeta> {
    const config = resolveStreamConfig(patch);
    return this.#control(name, async (current) => {
      if (current !== undefined) throw new StreamExistsError(name);
      if (!this.#counterKnown) await this.#knowCounter();
      return () => {
        const streamId = this.#nextStreamId;
        const reservedBelowId = streamId < this.#reservedBelowId ? this.#reservedBelowId : streamId + STREAM_IDS_PER_COUNTER_WRITE;
        const meta: StreamMeta = { id: streamId, config, createdAtMs: Math.floor(this.clock.nowMs()) };
        const ops: WriteOp[] = [
          { type: "put", key: streamMetaKey(name), value: encodeStreamMeta(meta) },
          { type: "put", key: tailKey(streamId), value: encodeTailValue({ nextSeqNum: 0, lastTimestamp: 0, lastWriteMs: 0 }) },
        ];
        if (reservedBelowId !== this.#reservedBelowId) ops.push({ type: "put", key: STREAM_ID_COUNTER_KEY, value: encodeU64Value(reservedBelowId) });
        // Taken only once the batch is written: a write the engine refuses reserves nothing.
        const onWritten = () => {
          this.#nextStreamId = streamId + 1;
          this.#reservedBelowId = reservedBelowId;
        };
        return { ops, meta, result: meta, onWritten };
      };
    });
  }

  reconfigure(name: string, patch: StreamConfigPatch): Promise<StreamMeta> {
    return this.#control(name, async (current) => {
      if (current === undefined) throw new StreamNotFoundError(name);
      const meta: StreamMeta = { ...current, config: applyConfigPatch(current.config, patch) };
      return () => ({ ops: [{ type: "put", key: streamMetaKey(name), value: encodeStreamMeta(meta) }], meta, result: meta });
    });
  }

  /** Deletes the stream; `beforeWrite` runs first (the Log closes the stream's streamer there). */
  delete(name: string, beforeWrite: (meta: StreamMeta) => Promise<void>): Promise<void> {
    return this.#control(name, async (meta) => {
      if (meta === undefined) throw new StreamNotFoundError(name);
      await beforeWrite(meta);
      const ops: WriteOp[] = [
        { type: "delete", key: streamMetaKey(name) },
        { type: "delete", key: tailKey(meta.id) },
        { type: "delete", key: fencingTokenKey(meta.id) },
        { type: "put", key: trimPointKey(meta.id), value: encodeU64Value(DELETED_TRIM_POINT) },
      ];
      return () => ({ ops, meta: undefined, result: undefined, onDurable: () => this.noteTrim(meta.id, DELETED_TRIM_POINT) });
    });
  }

  /**
   * Runs one control operation on `name`: waits for the name's previous operation to decide,
   * judges against the state it left (`decide` throws to refuse), writes the batch that `decide`
   * builds (synchronously, so ids and order are fixed at the write), and resolves with its result
   * once the batch is durable.
   */
  async #control<T>(name: string, decide: (current: StreamMeta | undefined) => Promise<() => ControlWrite<T>>): Promise<T> {
    const previous = this.#turns.get(name);
    let endTurn!: () => void;
    const turn = new Promise<void>((resolve) => (endTurn = resolve));
    this.#turns.set(name, turn);
    let written: PendingControl;
    let write: ControlWrite<T>;
    try {
      if (previous !== undefined) await previous; // no await (a microtask hop) for a name nobody else is deciding on
      const resets = this.#resets;
      const pending = this.#pending.get(name);
      const build = await this.#judge(name, pending, decide);
      const engine = this.engine();
      if (engine.full) await engine.whenWritable();
      // A reset while we waited may have taken away the state we judged against (and the counter).
      if (this.#resets !== resets) throw staleDecision(name);
      write = build();
      written = { meta: write.meta, engineSeq: engine.write(write.ops) };
      write.onWritten?.();
      this.#pending.set(name, written);
    } finally {
      endTurn();
      if (this.#turns.get(name) === turn) this.#turns.delete(name);
    }
    try {
      await this.engine().whenDurable(written.engineSeq);
    } finally {
      if (this.#pending.get(name) === written) this.#pending.delete(name);
    }
    write.onDurable?.();
    return write.result;
  }

  /** `decide` against the state the name's last operation left; a refusal waits until that state is durable. */
  async #judge<T>(name: string, pending: PendingControl | undefined, decide: (current: StreamMeta | undefined) => Promise<T>): Promise<T> {
    const current = pending !== undefined ? pending.meta : await this.#durableMeta(name);
    try {
      return await decide(current);
    } catch (refusal) {
      if (pending !== undefined) await this.engine().whenDurable(pending.engineSeq);
      throw refusal;
    }
  }

  async #knowCounter(): Promise<void> {
    while (!this.#counterKnown) {
      this.#counterLoading ??= this.engine()
        .get(STREAM_ID_COUNTER_KEY)
        .then((value) => {
          this.#nextStreamId = allocateStreamId(value).streamId; // checks the value
          this.#reservedBelowId = this.#nextStreamId; // nothing reserved: the first creation writes the counter
          this.#counterKnown = true;
        })
        .finally(() => {
          this.#counterLoading = undefined;
        });
      await this.#counterLoading;
    }
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

  /** Record and timestamp-index keys are written once (stream-filter.ts). */
  static readonly isWriteOnceKey = isWriteOnceKey;

  /** Drops what is below a stream's trim point, and a deleted stream's keys (stream-filter.ts); reads the live trim points. */
  readonly compactionFilter: CompactionFilter = trimPointFilter(this.trimPoints);
}

/** A control operation whose decision an engine reset overtook: nothing was written. */
function staleDecision(name: string): StorageError {
  return new StorageError(`the store failed while an operation on stream ${JSON.stringify(name)} was decided; retry`, {
    retryable: true,
    outcome: "not_applied",
  });
}
