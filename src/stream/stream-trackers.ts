/**
 * A read-only Log's trackers (stream-tracker.ts): one per stream being read, by name and by
 * stream id, fed with the batches the read-only engine applies as it follows the writer.
 *
 * A batch's ops go to the tracker of the stream they belong to; a deleted stream's tracker
 * closes; after the engine adopts a newer manifest (no batches: its SSTs may hold batches never
 * seen one by one, deletions included) every tracker reloads from the engine.
 */
import { StreamNotFoundError } from "../errors.js";
import type { Engine, WalBatch, WriteOp } from "../engine/engine.js";
import type { StreamMeta } from "./stream-config.js";
import { KeyKind, decodeStreamMetaKey, streamIdOfKey } from "./stream-keys.js";
import { StreamTracker } from "./stream-tracker.js";

export class StreamTrackers {
  readonly #byName = new Map<string, Promise<StreamTracker>>();
  readonly #byId = new Map<number, StreamTracker>();

  constructor(
    private readonly engine: Engine,
    private readonly getMeta: (name: string) => Promise<StreamMeta | undefined>,
  ) {}

  /** The stream's tracker, loaded on first use; a closed one is replaced. */
  async get(name: string): Promise<StreamTracker> {
    const tracker = await this.#load(name);
    if (!tracker.closed) return tracker;
    if ((await this.#byName.get(name)?.catch(() => undefined)) === tracker) this.#byName.delete(name);
    return this.#load(name);
  }

  /** Closes every tracker (the log closed or failed). */
  closeAll(error: Error): void {
    for (const tracker of this.#byId.values()) tracker.close(error);
    this.#byId.clear();
    this.#byName.clear();
  }

  /** Hands each applied engine batch's ops to the tracker of the stream they belong to. */
  routeApplied(batches: WalBatch[]): void {
    if (this.#byId.size === 0 && this.#byName.size === 0) return;
    if (batches.length === 0) {
      for (const tracker of this.#byId.values()) void this.#reload(tracker).catch(() => undefined);
      return;
    }
    // One call holds whole WAL objects; a stream's tail key is written once per object, at its
    // end, so a tracker gets all of a stream's ops of the call at once, tail included.
    const byStream = new Map<number, WriteOp[]>();
    for (const batch of batches) {
      for (const op of batch.ops) {
        const kind = op.key[0]!;
        if (kind === KeyKind.streamMeta && op.type === "delete") {
          this.#forget(decodeStreamMetaKey(op.key));
        } else {
          const id = streamIdOfKey(op.key);
          if (id === undefined || !this.#byId.has(id)) continue;
          let ops = byStream.get(id);
          if (ops === undefined) byStream.set(id, (ops = []));
          ops.push(op);
        }
      }
    }
    for (const [id, ops] of byStream) this.#byId.get(id)?.applyBatch(ops);
  }

  async #reload(tracker: StreamTracker): Promise<void> {
    const meta = await this.getMeta(tracker.name);
    if (meta === undefined || meta.id !== tracker.streamId) {
      if ((await this.#byName.get(tracker.name)?.catch(() => undefined)) === tracker) this.#forget(tracker.name);
      else {
        this.#byId.delete(tracker.streamId);
        tracker.close(new StreamNotFoundError(tracker.name));
      }
      return;
    }
    await tracker.reload(this.engine);
  }

  #forget(name: string): void {
    const tracker = this.#byName.get(name);
    this.#byName.delete(name);
    void tracker?.then((t) => {
      this.#byId.delete(t.streamId);
      t.close(new StreamNotFoundError(name));
    }, () => undefined);
  }

  #load(name: string): Promise<StreamTracker> {
    let tracker = this.#byName.get(name);
    if (tracker === undefined) {
      const loading = (async () => {
        const meta = await this.getMeta(name);
        if (meta === undefined) throw new StreamNotFoundError(name);
        return StreamTracker.load(this.engine, name, meta, (t) => this.#byId.set(t.streamId, t));
      })();
      this.#byName.set(name, loading);
      loading.catch(() => {
        if (this.#byName.get(name) === loading) this.#byName.delete(name);
      });
      tracker = loading;
    }
    return tracker;
  }
}
