/**
 * The WAL writer: group commit with one PUT in flight.
 *
 * Batches are appended (already encoded) to a buffer. When no PUT is in flight and the buffer
 * is not empty, the buffer becomes one WAL object `wal/<id>`, created create-only. Batches that
 * arrive while it is in flight gather for the next object. Flush starts are spaced at least
 * `flushIntervalMs` apart, so WAL PUTs never exceed 1000 / flushIntervalMs per second whatever
 * the load; an idle writer flushes at once (after the current turn of the event loop, so that
 * appends made in the same turn share the object).
 *
 *   append ──> [buffer] ──(idle, spacing elapsed)──> PUT wal/<id> (ifNoneMatch "*")
 *                 ^ appends gather here while a PUT is in flight      │ ok: onFlushed(maxSeq)
 *                                                                     │ error: onFailed(error)
 *
 * Right before the buffer becomes an object (the cut), `beforeCut` may append more batches:
 * the engine writes there what must be in the same object as the writes before it but only
 * once per object (see `Engine.writeAtNextCut`). A cut therefore never happens inside
 * `append`: a caller of `append` may still be updating its own state when it returns.
 *
 * Batches are encoded right into the buffer of the object they will go into (`encodeBatch`, which
 * the engine calls just before `append`), so the object is written without copying them, and
 * the buffer is handed over to the store (a MemoryStore keeps it instead of copying it).
 *
 * A PUT that fails (after the retrying store gave up) stops the writer: nothing after it may
 * become durable before it, so the engine fails every pending write and reopens.
 */
import type { ObjectStore } from "../store/object-store.js";
import { handOverBytes } from "../store/memory-store.js";
import type { TimerHandle } from "../util/clock.js";
import { walKey } from "./paths.js";
import { encodeBatchInto, encodedBatchBytes, encodeWalObject, WalObjectBuilder, type WriteOp } from "./wal-format.js";
import { GroupCommitWriter, nextWalBufferBytes, type GroupCommitHooks, type WalGroup } from "./wal-group-commit.js";
import { WAL_FLUSH_NOW_BYTES, WAL_OBJECT_MIN_BUFFER_BYTES } from "../limits.js";

export type { WalFlush } from "./wal.js";

export interface WalWriterOptions extends GroupCommitHooks {
  store: ObjectStore;
  writerEpoch: number;
  flushIntervalMs: number;
}

export class WalWriter extends GroupCommitWriter {
  readonly #options: WalWriterOptions;
  #lastStartMs = Number.NEGATIVE_INFINITY;
  #timer: TimerHandle | undefined;
  /** The next object, built where its batches are encoded (undefined until the first batch after a cut). */
  #object: WalObjectBuilder | undefined;
  /** Buffer size for the next object: 1.125x the last one, decaying slowly, within the limits. */
  #objectBufferBytes = WAL_OBJECT_MIN_BUFFER_BYTES;

  constructor(options: WalWriterOptions) {
    super(options);
    this.#options = options;
  }

  /**
   * Encodes the batch right into the object being built, after the batches before it: when the
   * group is cut with exactly those batches, the object is written without copying them. A batch
   * that does not fit starts a new buffer; the group it belongs to is then concatenated instead.
   */
  override encodeBatch(seq: number, ops: readonly WriteOp[]): Uint8Array {
    const size = encodedBatchBytes(ops);
    let out = this.#object?.reserve(size);
    if (out === undefined) {
      this.#object = new WalObjectBuilder(Math.max(this.#objectBufferBytes, WalObjectBuilder.capacityFor(size)));
      out = this.#object.reserve(size)!;
    }
    encodeBatchInto(out, seq, ops);
    return out;
  }

  append(seq: number, encodedBatch: Uint8Array): void {
    this.buffer.add(seq, encodedBatch);
    if (this.buffer.cutting) return; // beforeCut is adding to the object being cut
    if (this.buffer.bytes >= WAL_FLUSH_NOW_BYTES && this.#spacingElapsed() && !this.inFlight) {
      this.buffer.flushInMicrotask();
      return;
    }
    this.#schedule();
  }

  #spacingElapsed(): boolean {
    return this.#lastStartMs + this.#options.flushIntervalMs <= this.#options.clock.elapsedMs();
  }

  override stop(): void {
    this.#timer?.cancel();
    this.#object = undefined;
    super.stop();
  }

  /** One create-only PUT of `wal/<walId>`; its body, a fresh array, is handed over to the store. */
  protected async writeGroup(walId: number, group: WalGroup): Promise<number> {
    this.#lastStartMs = this.#options.clock.elapsedMs();
    const body = this.#objectOf(walId, group);
    await this.#options.store.put(walKey(walId), handOverBytes(body), { ifNoneMatch: "*" });
    return body.length;
  }

  /** The group as a WAL object: built in place when it holds exactly the built object's batches, else concatenated. */
  #objectOf(walId: number, group: WalGroup): Uint8Array {
    const built = this.#object;
    this.#object = undefined; // never touched again: the store may keep it (handOverBytes)
    const { writerEpoch } = this.#options;
    const body =
      built !== undefined && built.holds(group.batches) ? built.finish(writerEpoch, walId, group.batches.length) : encodeWalObject(writerEpoch, walId, group.batches);
    this.#objectBufferBytes = nextWalBufferBytes(body.length, this.#objectBufferBytes);
    return body;
  }

  protected afterFlush(): void {
    this.#schedule();
  }

  #schedule(): void {
    if (this.buffer.stopped || this.inFlight || this.buffer.flushQueued || this.#timer !== undefined) return;
    if (this.buffer.isEmpty) return;
    const waitMs = this.#lastStartMs + this.#options.flushIntervalMs - this.#options.clock.elapsedMs();
    if (waitMs > 0) {
      this.#timer = this.#options.clock.setTimer(waitMs, () => {
        this.#timer = undefined;
        // Node timers can fire up to a millisecond early: check the spacing again, never assume it.
        this.#schedule();
      });
    } else {
      this.buffer.flushSoon();
    }
  }
}
