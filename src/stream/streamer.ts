/**
 * The streamer: one per open stream, and the only place its records get sequence numbers.
 *
 *   append ──> byte permit (Log-wide FIFO semaphore) ──> admission queue ──> sequence():
 *     conditions (fencing token, matchSeqNum) against the latest state, pending batches included;
 *     timestamps; command records; ONE engine batch (records, timestamp index, and the token or
 *     trim point when a command changed them) ──> engine.write() (synchronous)
 *   the stream's tail key: written once per WAL object, at its cut (`Engine.writeAtNextCut`),
 *     so every durable prefix of the WAL holds a tail that covers all of its records
 *   engine durable watermark passes the batch ──> onDurable(): stable tail advances,
 *     replies leave in order (ack-queue.ts), followers get the batch
 *
 * Pipelining: the next append is sequenced and written before earlier ones are durable. A
 * condition failure is answered only once the state it was judged against is durable, and an
 * ack only once its batch is: a reply never rests on state a storage failure could take back.
 *
 * Failure: when the engine fails its pending writes (a reset), every pending reply fails with
 * StorageError, the streamer goes stale, and before its next append it reloads its tail, token
 * and trim point from durable state, so sequence numbers continue with no gap and no duplicate.
 */
import Denque from "denque";
import {
  AbortedError,
  ClosedError,
  FencingTokenMismatchError,
  SeqNumMismatchError,
  StorageError,
  type StreamPosition,
  assert,
} from "../errors.js";
import type { CutSource, Engine, WriteOp } from "../engine/engine.js";
import type { Clock } from "../util/clock.js";
import { AckQueue, type PendingReply } from "./ack-queue.js";
import type { ByteSemaphore, Permit } from "./byte-semaphore.js";
import { retentionMs, type StreamMeta } from "./stream-config.js";
import {
  TIMESTAMP_INDEX_VALUE,
  encodeFencingTokenValue,
  encodeTailValue,
  encodeU64Value,
  fencingTokenKey,
  isIndexedSeqNum,
  recordKeyOf,
  tailKey,
  timestampIndexKey,
  trimPointKey,
} from "./stream-keys.js";
import { loadStreamState, type StreamState } from "./stream-state.js";
import { assignTimestamps } from "./timestamps.js";
import type { AppendAck } from "./types.js";
import type { ValidatedAppend } from "./validate.js";
import { failpoint } from "../util/failpoints.js";
import { unzeroedBytes } from "../util/bytes.js";

/** A durable batch as followers see it: records with their values still encoded. */
export interface DurableBatch {
  records: { seqNum: number; timestamp: number; value: Uint8Array }[];
  /** The stable tail right after this batch. */
  tail: StreamPosition;
}

/** A live reader of new durable batches (read-session.ts). */
export interface Follower {
  /** Takes a batch; returns false when the follower has fallen too far behind and leaves. */
  push(batch: DurableBatch): boolean;
  /** The stream's durable history changed under the follower (a reset, a deletion): stop following. */
  interrupt(error?: Error): void;
}

/**
 * Per-session state the streamer needs. The first rejection poisons the session at once, so no
 * later append of it is written; the caller learns of it only when that rejection is delivered
 * (after the state it was judged against is durable).
 */
export interface SessionState {
  poisoned: Error | undefined;
  /** End seqNum of the session's last accepted append: later replies never overtake it. */
  lastDependencySeq: number;
}

export interface StreamerDeps {
  engine: Engine;
  clock: Clock;
  semaphore: ByteSemaphore;
  /**
   * A trim point became durable: the compaction filter may drop records below it. `deadBytes`
   * estimates what the trim made dead (records times their average stored size).
   */
  onDurableTrim(streamId: number, trimPoint: number, deadBytes: number): void;
  /** The streamer has batches waiting for durability (the Log routes durable events to it). */
  onPending(streamer: Streamer): void;
  /** An evicted streamer is being used (an admit, a subscribe): the Log must load it again (streamer-cache.ts). */
  revive(streamer: Streamer): void;
}

interface Admitted {
  input: ValidatedAppend;
  permit: Permit;
  session: SessionState | undefined;
  resolve(ack: AppendAck): void;
  reject(error: unknown): void;
}

interface InflightBatch extends DurableBatch {
  engineSeq: number;
  trimPoint: number | undefined;
}

type StreamerStatus = "ready" | "stale" | "closed";

/** Bytes a record's keys take in an SST (its record key with row header, and its share of the sparse timestamp index). */
const STORED_KEYS_BYTES = 42;
/** A record's stored size before any was appended here (for dead-data estimates only). */
export const RECORD_STORED_BYTES_GUESS = 256;

/** One append turned into an engine batch, with the state it leaves behind. */
interface BuiltBatch {
  ops: WriteOp[];
  records: DurableBatch["records"];
  start: StreamPosition;
  end: StreamPosition;
  token: string;
  tokenAppliedSeq: number;
  /** The new trim point when a trim command in the batch moved it. */
  trimPoint: number | undefined;
  /** The wall clock when the batch was sequenced. */
  nowMs: number;
}

/** The reply of an accepted append (an object, not two closures: one is made per append). */
class AcceptedReply implements PendingReply {
  readonly dependencySeq: number;

  constructor(
    private readonly item: Admitted,
    private readonly start: StreamPosition,
    private readonly end: StreamPosition,
  ) {
    this.dependencySeq = end.seqNum;
  }

  deliver(tail: StreamPosition): void {
    this.item.permit.release();
    this.item.resolve({ start: this.start, end: this.end, tail });
  }

  fail(error: unknown): void {
    this.item.permit.release();
    this.item.reject(error);
  }
}

export class Streamer implements CutSource {
  readonly name: string;
  #meta: StreamMeta;
  readonly #deps: StreamerDeps;
  #status: StreamerStatus = "ready";
  #closeError: Error | undefined;
  /** Set while the Log closes: new appends are refused, pending ones finish. */
  #refusing: Error | undefined;
  #reloading: Promise<void> | undefined;
  /** Next seqNum to assign, pending batches included. */
  #nextSeq!: number;
  #lastTimestamp!: number;
  /** Wall-clock time of the last sequenced append (stored in the tail key). */
  #lastWriteMs!: number;
  #token!: string;
  /** Position right after the record that set the current token (the dependency of a mismatch). */
  #tokenAppliedSeq!: number;
  #trimPoint!: number;
  #durableTrimPoint!: number;
  #acks!: AckQueue;
  readonly #inflight = new Denque<InflightBatch>();
  readonly #admission = new Denque<Admitted>();
  #draining = false;
  readonly #followers = new Set<Follower>();
  #recordsAppended = 0;
  #recordBytesAppended = 0;
  /** Out of the Log's map of loaded streamers, held weakly (streamer-cache.ts). */
  #evicted = false;

  private constructor(name: string, meta: StreamMeta, state: StreamState, deps: StreamerDeps) {
    this.name = name;
    this.#meta = meta;
    this.#deps = deps;
    this.#adopt(state);
  }

  /** Takes durable state (at load, and after a reset): the sequence continues right after it. */
  #adopt(state: StreamState): void {
    this.#nextSeq = state.tail.seqNum;
    this.#lastTimestamp = state.tail.timestamp;
    this.#lastWriteMs = state.lastWriteMs;
    this.#token = state.fencingToken;
    this.#tokenAppliedSeq = state.tail.seqNum;
    this.#trimPoint = state.trimPoint;
    this.#durableTrimPoint = state.trimPoint;
    this.#acks = new AckQueue(state.tail);
  }

  static async load(name: string, meta: StreamMeta, deps: StreamerDeps): Promise<Streamer> {
    return new Streamer(name, meta, await loadStreamState(deps.engine, meta.id), deps);
  }

  get streamId(): number {
    return this.#meta.id;
  }

  get meta(): StreamMeta {
    return this.#meta;
  }

  /** The durable tail: the next seqNum after the last durable record, and that record's timestamp. */
  get tail(): StreamPosition {
    return this.#acks.stable;
  }

  /** Records below this seqNum are trimmed (durably). */
  get trimPoint(): number {
    return this.#durableTrimPoint;
  }

  get closed(): boolean {
    return this.#status === "closed";
  }

  /**
   * Average stored bytes of a record appended through this streamer (value, record and index
   * keys), for dead-data estimates; RECORD_STORED_BYTES_GUESS before the first append.
   */
  get averageRecordBytes(): number {
    return this.#recordsAppended === 0 ? RECORD_STORED_BYTES_GUESS : this.#recordBytesAppended / this.#recordsAppended;
  }

  get hasPending(): boolean {
    return this.#inflight.length > 0;
  }

  reconfigure(meta: StreamMeta): void {
    this.#meta = meta;
  }

  /** Nothing admitted, in flight or reloading, and no follower: the streamer may be evicted. */
  get idle(): boolean {
    return this.#inflight.length === 0 && this.#admission.length === 0 && !this.#draining && this.#reloading === undefined && this.#followers.size === 0;
  }

  /** The cache evicted this idle streamer; a later direct use asks the Log to load it again. */
  evict(): void {
    assert(this.idle, () => `stream ${JSON.stringify(this.name)}: only an idle streamer may be evicted`);
    this.#evicted = true;
  }

  unevict(): void {
    this.#evicted = false;
  }

  #reviveIfEvicted(): void {
    if (this.#evicted) this.#deps.revive(this); // clears #evicted (unevict) or throws
  }

  /** Whether appends go straight to sequencing (not closed, not waiting to reload after a reset). */
  get ready(): boolean {
    return this.#status === "ready";
  }

  /** Appends one validated batch; resolves with its ack once durable. */
  append(input: ValidatedAppend, session?: SessionState): Promise<AppendAck> {
    if (this.#status === "closed") return Promise.reject(this.#closeError ?? new ClosedError(`stream ${JSON.stringify(this.name)}`));
    // Most appends find room under the cap: no promise to wait for the permit then.
    const permit = this.#deps.semaphore.tryAcquire(input.inflightBytes, input.signal);
    if (permit !== undefined) return this.admit(input, permit, session);
    return this.#deps.semaphore.acquire(input.inflightBytes, input.signal).then((granted) => this.admit(input, granted, session));
  }

  /** Admits an append that already holds its byte permit (append sessions acquire it at submit). */
  admit(input: ValidatedAppend, permit: Permit, session?: SessionState): Promise<AppendAck> {
    return new Promise<AppendAck>((resolve, reject) => {
      if (this.#status === "closed" || this.#refusing !== undefined) {
        permit.release();
        reject(this.#refusing ?? this.#closeError);
        return;
      }
      this.#admission.push({ input, permit, session, resolve, reject });
      this.#reviveIfEvicted(); // after the push: the streamer is busy, the cache keeps it
      this.#drain();
    });
  }

  subscribe(follower: Follower): void {
    this.#throwIfClosed();
    this.#followers.add(follower);
    this.#reviveIfEvicted(); // after the add: the streamer is busy, the cache keeps it
  }

  unsubscribe(follower: Follower): void {
    this.#followers.delete(follower);
  }

  /** The engine's durable watermark reached `durableEngineSeq`. */
  onDurable(durableEngineSeq: number): void {
    for (let front = this.#inflight.peekFront(); front !== undefined && front.engineSeq <= durableEngineSeq; front = this.#inflight.peekFront()) {
      this.#inflight.shift();
      if (front.trimPoint !== undefined && front.trimPoint > this.#durableTrimPoint) {
        const deadBytes = (front.trimPoint - this.#durableTrimPoint) * this.averageRecordBytes;
        this.#durableTrimPoint = front.trimPoint;
        this.#deps.onDurableTrim(this.#meta.id, front.trimPoint, deadBytes);
      }
      this.#acks.onStable(front.tail);
      if (this.#followers.size === 0) continue;
      const published = withOwnValues(front);
      for (const follower of this.#followers) {
        if (!follower.push(published)) this.#followers.delete(follower);
      }
    }
  }

  /** The engine failed every pending write: fail our replies and reload before the next append. */
  onReset(error: StorageError): void {
    if (this.#status === "closed") return;
    this.#inflight.clear();
    this.#acks.failAll(error);
    this.#status = "stale";
  }

  /**
   * Reloads durable state if a reset left the streamer stale (so `tail` and reads are current);
   * a no-op otherwise. Fails while the store is still down.
   */
  async refresh(): Promise<void> {
    if (this.#status !== "stale") return;
    this.#reloading ??= this.#reload().finally(() => {
      this.#reloading = undefined;
    });
    await this.#reloading;
  }

  /** Refuses appends not yet sequenced (never written, so not applied); sequenced ones go on. */
  refuseNew(error: Error): void {
    this.#refusing ??= error;
    this.#rejectAdmitted(error);
  }

  /**
   * Resolves once every append sequenced so far has its answer from the engine: durable (acked
   * in order), or failed by a reset or a close with its outcome. Never rejects.
   */
  async whenAnswered(): Promise<void> {
    const last = this.#inflight.peekBack();
    if (last === undefined) return;
    await this.#deps.engine.whenDurable(last.engineSeq).catch(() => undefined);
  }

  /** Closes the streamer: pending and future appends fail with `error`; followers stop. */
  close(error: Error): void {
    if (this.#status === "closed") return;
    this.#status = "closed";
    this.#closeError = error;
    this.#inflight.clear();
    this.#acks.failAll(error);
    for (let item = this.#admission.shift(); item !== undefined; item = this.#admission.shift()) {
      item.permit.release();
      item.reject(error);
    }
    for (const follower of this.#followers) follower.interrupt(error);
    this.#followers.clear();
  }

  #throwIfClosed(): void {
    if (this.#status === "closed") throw this.#closeError ?? new ClosedError(`stream ${JSON.stringify(this.name)}`);
  }

  #drain(): void {
    if (this.#draining) return;
    // Most drains wait for nothing: sequence right here, without the loop's promises.
    try {
      while (this.#admission.length > 0 && this.#status === "ready" && !this.#deps.engine.full) this.#sequence(this.#admission.shift()!);
    } catch (error) {
      this.#deps.engine.fail(error); // a broken invariant: as in #drainLoop
      return;
    }
    if (this.#admission.length === 0 || this.#status === "closed") return;
    this.#draining = true;
    this.#drainLoop()
      .catch((error: unknown) => this.#deps.engine.fail(error)) // a broken invariant: the log fails, this stream closes with it
      .finally(() => {
        this.#draining = false;
        if (this.#admission.length > 0 && this.#status !== "closed") this.#drain();
      });
  }

  /** Sequences admitted appends in admission order; synchronous unless it must wait or reload. */
  async #drainLoop(): Promise<void> {
    while (this.#admission.length > 0 && this.#status !== "closed") {
      const engine = this.#deps.engine;
      if (this.#status === "stale" && !(await this.#tryReload())) return;
      if (engine.full) {
        try {
          await engine.whenWritable();
        } catch (error) {
          this.#rejectAdmitted(error);
          return;
        }
        continue;
      }
      this.#sequence(this.#admission.shift()!);
    }
  }

  /** Reloads durable state after a reset; rejects the admitted appends while the store is down. */
  async #tryReload(): Promise<boolean> {
    try {
      await this.refresh();
    } catch (error) {
      this.#rejectAdmitted(error);
      return false;
    }
    return this.#status === "ready";
  }

  async #reload(): Promise<void> {
    const engine = this.#deps.engine;
    if (engine.state !== "open") {
      throw new StorageError("the store is failing and the log is reopening; retry shortly", { retryable: true, outcome: "not_applied" });
    }
    const state = await loadStreamState(engine, this.#meta.id);
    if (this.#status !== "stale") return;
    const previousTail = this.#acks.stable;
    this.#adopt(state);
    if (state.trimPoint > 0) this.#deps.onDurableTrim(this.#meta.id, state.trimPoint, 0);
    this.#status = "ready";
    if (state.tail.seqNum !== previousTail.seqNum) {
      // Writes whose outcome was unknown turned out durable: followers must re-read from storage.
      for (const follower of this.#followers) follower.interrupt();
      this.#followers.clear();
    }
  }

  #rejectAdmitted(error: unknown): void {
    for (let item = this.#admission.shift(); item !== undefined; item = this.#admission.shift()) {
      item.permit.release();
      item.reject(error);
    }
  }

  /** Synchronous: conditions, sequence numbers, timestamps, commands, one engine batch. */
  #sequence(item: Admitted): void {
    const { input, session } = item;
    const firstSeq = this.#nextSeq;
    if (session?.poisoned !== undefined) return this.#reject(item, session.poisoned, this.#sessionDependency(session));
    if (input.signal?.aborted === true) {
      return this.#reject(item, new AbortedError("the append", "not_applied", { cause: input.signal.reason }), this.#sessionDependency(session));
    }
    if (input.fencingToken !== undefined && input.fencingToken !== this.#token) {
      return this.#reject(item, new FencingTokenMismatchError(this.#token, input.fencingToken), this.#tokenAppliedSeq);
    }
    if (input.matchSeqNum !== undefined && input.matchSeqNum !== firstSeq) {
      return this.#reject(item, new SeqNumMismatchError(firstSeq, input.matchSeqNum), firstSeq);
    }
    const nowMs = Math.max(0, Math.floor(this.#deps.clock.nowMs()));
    let timestamps: number[];
    try {
      const { mode, uncapped } = this.#meta.config.timestamping;
      timestamps = assignTimestamps(input.records, { mode, uncapped, nowMs, previousMaxMs: this.#lastTimestamp });
    } catch (error) {
      return this.#reject(item, error, this.#sessionDependency(session));
    }
    const built = this.#buildBatch(input, firstSeq, timestamps, nowMs);
    let engineSeq: number;
    try {
      // Asked for before the write: no batch may sit in the WAL without its tail at the next cut.
      this.#deps.engine.writeAtNextCut(this);
      engineSeq = this.#deps.engine.write(built.ops);
    } catch (error) {
      // A write the engine refused before taking it is not applied; one it took and then failed
      // on closed the engine, which closed this streamer: answer it now with the engine's error.
      if (this.#status === "closed") return this.#failNow(item, error);
      return this.#reject(item, error, this.#sessionDependency(session));
    }
    try {
      failpoint("streamer.commit");
      this.#commit(item, built, engineSeq);
    } catch (error) {
      // The batch is in the engine but its reply is not queued: the log cannot go on.
      this.#failNow(item, error);
      this.#deps.engine.fail(error);
    }
  }

  #failNow(item: Admitted, error: unknown): void {
    item.permit.release();
    item.reject(error);
  }

  #buildBatch(input: ValidatedAppend, firstSeq: number, timestamps: number[], nowMs: number): BuiltBatch {
    const id = this.#meta.id;
    const retention = retentionMs(this.#meta.config);
    const expireAtMs = retention === undefined ? 0 : nowMs + retention;
    const ops: WriteOp[] = [];
    const records: DurableBatch["records"] = [];
    let token = this.#token;
    let tokenAppliedSeq = this.#tokenAppliedSeq;
    let trimPoint = this.#trimPoint;
    let tokenChanged = false;
    let trimChanged = false;
    for (let i = 0; i < input.records.length; i++) {
      const record = input.records[i]!;
      const seqNum = firstSeq + i;
      const timestamp = timestamps[i]!;
      ops.push({ type: "put", key: recordKeyOf(id, seqNum, timestamp), value: record.value, expireAtMs });
      if (isIndexedSeqNum(seqNum)) {
        ops.push({ type: "put", key: timestampIndexKey({ streamId: id, seqNum, timestamp }), value: TIMESTAMP_INDEX_VALUE, expireAtMs });
      }
      records.push({ seqNum, timestamp, value: record.value });
      this.#recordsAppended++;
      this.#recordBytesAppended += record.value.length + STORED_KEYS_BYTES;
      if (record.command?.kind === "fence") {
        token = record.command.token;
        tokenAppliedSeq = seqNum + 1;
        tokenChanged = true;
      } else if (record.command?.kind === "trim") {
        const effective = Math.min(record.command.seqNum, seqNum + 1);
        if (effective > trimPoint) {
          trimPoint = effective;
          trimChanged = true;
        }
      }
    }
    const end: StreamPosition = { seqNum: firstSeq + input.records.length, timestamp: timestamps[timestamps.length - 1]! };
    if (tokenChanged) ops.push({ type: "put", key: fencingTokenKey(id), value: encodeFencingTokenValue(token) });
    if (trimChanged) ops.push({ type: "put", key: trimPointKey(id), value: encodeU64Value(trimPoint) });
    const start: StreamPosition = { seqNum: firstSeq, timestamp: timestamps[0]! };
    return { ops, records, start, end, token, tokenAppliedSeq, trimPoint: trimChanged ? trimPoint : undefined, nowMs };
  }

  #commit(item: Admitted, built: BuiltBatch, engineSeq: number): void {
    const last = this.#inflight.peekBack();
    assert(last === undefined || last.engineSeq < engineSeq, "engine seqs of a stream's batches must increase");
    this.#nextSeq = built.end.seqNum;
    this.#lastTimestamp = built.end.timestamp;
    this.#lastWriteMs = built.nowMs;
    this.#token = built.token;
    this.#tokenAppliedSeq = built.tokenAppliedSeq;
    if (built.trimPoint !== undefined) this.#trimPoint = built.trimPoint;
    this.#inflight.push({ engineSeq, records: built.records, tail: built.end, trimPoint: built.trimPoint });
    if (item.session !== undefined) item.session.lastDependencySeq = built.end.seqNum;
    this.#acks.pushAccepted(new AcceptedReply(item, built.start, built.end));
    this.#deps.onPending(this);
  }

  /**
   * The tail key, written by the engine at the WAL cut after our batches (`writeAtNextCut`,
   * asked for right before each batch is written), with the tail after every batch sequenced so
   * far: all of them are in that object or an earlier one. Even a closed streamer writes it:
   * its batches may still become durable.
   */
  opsAtCut(): WriteOp[] {
    const value = encodeTailValue({ nextSeqNum: this.#nextSeq, lastTimestamp: this.#lastTimestamp, lastWriteMs: this.#lastWriteMs });
    return [{ type: "put", key: tailKey(this.#meta.id), value }];
  }

  /** Queues a rejection behind the replies it must not overtake; the first one poisons a session. */
  #reject(item: Admitted, error: unknown, dependencySeq: number): void {
    if (item.session !== undefined && item.session.poisoned === undefined) item.session.poisoned = error as Error;
    const dependency = Math.min(dependencySeq, this.#nextSeq);
    this.#acks.pushRejected({
      dependencySeq: dependency,
      deliver: () => {
        item.permit.release();
        item.reject(error);
      },
      fail: (failure) => {
        item.permit.release();
        item.reject(failure);
      },
    });
  }

  #sessionDependency(session: SessionState | undefined): number {
    return session === undefined ? 0 : Math.min(session.lastDependencySeq, this.#nextSeq);
  }
}

/**
 * `batch` with its values copied into one buffer of its own: followers may keep a batch for a
 * while (a slow one queues several), and the values appended are slab arrays that are reused
 * once their memtable was flushed (record-format.ts valueSlabs, Memtable.drop). One copy per
 * batch, whatever the number of followers.
 */
function withOwnValues(batch: DurableBatch): DurableBatch {
  let bytes = 0;
  for (const record of batch.records) bytes += record.value.length;
  const own = unzeroedBytes(bytes); // every byte is written below
  let at = 0;
  const records = batch.records.map((record) => {
    own.set(record.value, at);
    const value = own.subarray(at, at + record.value.length);
    at += record.value.length;
    return { seqNum: record.seqNum, timestamp: record.timestamp, value };
  });
  return { records, tail: batch.tail };
}
