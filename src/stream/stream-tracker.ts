/**
 * StreamTracker: a read-only Log's view of one stream (the writer side has a Streamer).
 *
 * It knows the stream's durable tail and trim point as far as this reader has seen, and hands
 * each new durable batch of the stream to live followers. Its state comes from the engine when
 * it loads, then from the batches the read-only engine applies as it follows the writer's WAL
 * (the Log routes them here, see `applyBatch`). Nothing here writes to the store.
 */
import { ClosedError, type StreamPosition } from "../errors.js";
import type { Engine, WriteOp } from "../engine/engine.js";
import type { StreamView } from "./read-session.js";
import type { StreamMeta } from "./stream-config.js";
import { KeyKind, decodeRecordKey, decodeTailValue, decodeU64Value } from "./stream-keys.js";
import { loadStreamState } from "./stream-state.js";
import type { DurableBatch, Follower } from "./streamer.js";

export class StreamTracker implements StreamView {
  readonly name: string;
  readonly streamId: number;
  #tail: StreamPosition = { seqNum: 0, timestamp: 0 };
  #trimPoint = 0;
  #closed: Error | undefined;
  readonly #followers = new Set<Follower>();

  private constructor(name: string, meta: StreamMeta) {
    this.name = name;
    this.streamId = meta.id;
  }

  /**
   * Loads the tracker. The Log registers it for batches before loading (see `register`), so a
   * batch applied while the load awaits the engine is not missed: tail and trim only move forward.
   */
  static async load(engine: Engine, name: string, meta: StreamMeta, register: (tracker: StreamTracker) => void): Promise<StreamTracker> {
    const tracker = new StreamTracker(name, meta);
    register(tracker);
    const state = await loadStreamState(engine, meta.id, { checkPastTail: false }); // a reader reads below the tail only
    tracker.#advanceTail(state.tail);
    tracker.#trimPoint = Math.max(tracker.#trimPoint, state.trimPoint);
    return tracker;
  }

  get tail(): StreamPosition {
    return { ...this.#tail };
  }

  get trimPoint(): number {
    return this.#trimPoint;
  }

  get closed(): boolean {
    return this.#closed !== undefined;
  }

  subscribe(follower: Follower): void {
    if (this.#closed !== undefined) throw this.#closed;
    this.#followers.add(follower);
  }

  unsubscribe(follower: Follower): void {
    this.#followers.delete(follower);
  }

  /**
   * Reloads tail and trim point from the engine (after the read-only engine adopted a newer
   * manifest). If the tail moved without batches, followers go back to reading from storage.
   */
  async reload(engine: Engine): Promise<void> {
    if (this.#closed !== undefined) return;
    const state = await loadStreamState(engine, this.streamId, { checkPastTail: false });
    this.#trimPoint = Math.max(this.#trimPoint, state.trimPoint);
    if (state.tail.seqNum <= this.#tail.seqNum) return;
    this.#advanceTail(state.tail);
    for (const follower of this.#followers) follower.interrupt();
    this.#followers.clear();
  }

  /** This stream's ops from the whole WAL objects one poll applied, in order (the Log picks them out). */
  applyBatch(ops: readonly WriteOp[]): void {
    if (this.#closed !== undefined) return;
    const records: DurableBatch["records"] = [];
    let tail: StreamPosition | undefined;
    for (const op of ops) {
      if (op.type !== "put") continue;
      const kind = op.key[0];
      if (kind === KeyKind.record) {
        const { seqNum, timestamp } = decodeRecordKey(op.key);
        records.push({ seqNum, timestamp, value: op.value });
      } else if (kind === KeyKind.tail) {
        const value = decodeTailValue(op.value);
        tail = { seqNum: value.nextSeqNum, timestamp: value.lastTimestamp };
      } else if (kind === KeyKind.trimPoint) {
        this.#trimPoint = Math.max(this.#trimPoint, decodeU64Value(op.value, "trim point"));
      }
    }
    if (tail === undefined || tail.seqNum <= this.#tail.seqNum) return;
    const contiguous = records.length > 0 && records[0]!.seqNum === this.#tail.seqNum;
    this.#advanceTail(tail);
    for (const follower of this.#followers) {
      if (!contiguous) follower.interrupt(); // re-read from storage rather than skip anything
      else if (!follower.push({ records, tail })) this.#followers.delete(follower);
    }
    if (!contiguous) this.#followers.clear();
  }

  /** The stream was deleted, or the log closed: followers end with `error`. */
  close(error: Error = new ClosedError(`stream ${JSON.stringify(this.name)}`)): void {
    this.#closed ??= error;
    for (const follower of this.#followers) follower.interrupt(error);
    this.#followers.clear();
  }

  #advanceTail(tail: StreamPosition): void {
    if (tail.seqNum > this.#tail.seqNum || (tail.seqNum === this.#tail.seqNum && tail.timestamp > this.#tail.timestamp)) this.#tail = tail;
  }
}
