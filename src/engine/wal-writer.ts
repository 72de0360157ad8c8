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
 * A PUT that fails (after the retrying store gave up) stops the writer: nothing after it may
 * become durable before it, so the engine fails every pending write and reopens.
 */
import type { ObjectStore } from "../store/object-store.js";
import { handOverBytes } from "../store/memory-store.js";
import type { TimerHandle } from "../util/clock.js";
import { walKey } from "./paths.js";
import { encodeWalObject } from "./wal-format.js";
import { GroupCommitWriter, type GroupCommitHooks, type WalGroup } from "./wal-group-commit.js";
import { WAL_FLUSH_NOW_BYTES } from "../limits.js";

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

  constructor(options: WalWriterOptions) {
    super(options);
    this.#options = options;
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
    super.stop();
  }

  /** One create-only PUT of `wal/<walId>`; its body, a fresh array, is handed over to the store. */
  protected async writeGroup(walId: number, group: WalGroup): Promise<number> {
    this.#lastStartMs = this.#options.clock.elapsedMs();
    const body = encodeWalObject(this.#options.writerEpoch, walId, group.batches);
    await this.#options.store.put(walKey(walId), handOverBytes(body), { ifNoneMatch: "*" });
    return body.length;
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
