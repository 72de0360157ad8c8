/**
 * The writer Log's streamers, one per stream in use, under a cap on how many stay loaded.
 *
 * A streamer is the only sequencer of its stream, so there must never be two for one stream.
 * Eviction keeps that without closing anything: an idle streamer (nothing admitted, in flight
 * or reloading, no follower) over the cap leaves the map for a weak reference. If nothing else
 * holds it, the garbage collector takes it, and the next use loads a fresh one from durable
 * state (everything it wrote was durable: it was idle). If something still holds it (a read
 * session's view, an append session between two appends), the next use finds it through the
 * weak reference and puts it back; a streamer that is used directly while evicted (an admit,
 * a subscribe) asks to be put back itself (`revive`). So an evicted stream reopens
 * transparently, and a stream has one streamer whether or not it was evicted.
 *
 * Which streamer goes: the least recently used idle one. The map is kept in order of use (a use
 * moves its entry to the back), so a sweep walks from the front.
 */
import { assert } from "../errors.js";
import type { Streamer } from "./streamer.js";

interface Slot {
  loading: Promise<Streamer>;
  /** What `loading` resolved to, so that the append fast path needs no await. */
  loaded: Streamer | undefined;
}

export class StreamerCache {
  readonly #slots = new Map<string, Slot>();
  /** Counts every insert and delete of a slot: #touch skips the move while nothing changed since it put its name last. */
  #changes = 0;
  #lastTouched: string | undefined;
  #changesAtLastTouch = -1;
  /** Evicted streamers by name, while something may still hold them. */
  readonly #evicted = new Map<string, WeakRef<Streamer>>();
  readonly #collected = new FinalizationRegistry<string>((name) => {
    if (this.#evicted.get(name)?.deref() === undefined) this.#evicted.delete(name);
  });
  #evictions = 0;

  constructor(
    /** Most streamers kept loaded; idle ones beyond it are evicted. */
    readonly maxLoaded: number,
    private readonly load: (name: string) => Promise<Streamer>,
  ) {
    assert(Number.isSafeInteger(maxLoaded) && maxLoaded >= 1, () => `maxLoaded must be a positive integer, not ${maxLoaded}`);
  }

  /** Streamers loaded (or loading) now. */
  get size(): number {
    return this.#slots.size;
  }

  /** Streamers evicted since the Log opened. */
  get evictions(): number {
    return this.#evictions;
  }

  /** The stream's streamer if it is loaded, marked as used; undefined otherwise (no load). */
  loaded(name: string): Streamer | undefined {
    const slot = this.#slots.get(name);
    if (slot?.loaded === undefined) return undefined;
    this.#touch(name, slot);
    return slot.loaded;
  }

  /** The stream's streamer: the loaded one, an evicted one still alive, or a new load. */
  get(name: string): Promise<Streamer> {
    const slot = this.#slots.get(name);
    if (slot !== undefined) {
      this.#touch(name, slot);
      return slot.loading;
    }
    const alive = this.#takeEvicted(name);
    if (alive !== undefined) {
      const revived = this.#insert(name, Promise.resolve(alive), alive);
      this.#evictOverCap(name);
      return revived.loading;
    }
    const loading = this.load(name);
    const inserted = this.#insert(name, loading, undefined);
    loading.then(
      (streamer) => {
        inserted.loaded = streamer;
        this.#evictOverCap(name);
      },
      () => {
        if (this.#slots.get(name) === inserted) {
          this.#slots.delete(name);
          this.#changes++;
        }
      },
    );
    return loading;
  }

  /** The stream's streamer if one is loaded or evicted and alive, at once (not one still loading); never loads. */
  peek(name: string): Streamer | undefined {
    const slot = this.#slots.get(name);
    return slot !== undefined ? slot.loaded : this.#evicted.get(name)?.deref();
  }

  /** The stream's streamer if there is one, loaded or evicted and alive; never loads. Settles to undefined when its load fails. */
  async find(name: string): Promise<Streamer | undefined> {
    const slot = this.#slots.get(name);
    if (slot !== undefined) return slot.loading.catch(() => undefined);
    return this.#evicted.get(name)?.deref();
  }

  /** Forgets the stream's streamer (after a delete, or when it closed): only `streamer` if given. */
  forget(name: string, streamer?: Streamer): void {
    const slot = this.#slots.get(name);
    if (slot !== undefined && (streamer === undefined || slot.loaded === streamer)) {
      this.#slots.delete(name);
      this.#changes++;
    }
    const evicted = this.#evicted.get(name)?.deref();
    if (evicted !== undefined && (streamer === undefined || evicted === streamer)) this.#evicted.delete(name);
  }

  /** Every streamer there is: loaded, loading (once loaded) and evicted but alive. */
  async all(): Promise<Streamer[]> {
    const loaded = await Promise.all([...this.#slots.values()].map((slot) => slot.loading.catch(() => undefined)));
    const evicted = [...this.#evicted.values()].map((ref) => ref.deref());
    return [...loaded, ...evicted].filter((streamer): streamer is Streamer => streamer !== undefined);
  }

  /** Runs `action` on every streamer there is, now for loaded and evicted ones, later for loading ones. */
  forEach(action: (streamer: Streamer) => void): void {
    for (const slot of this.#slots.values()) {
      if (slot.loaded !== undefined) action(slot.loaded);
      else void slot.loading.then(action, () => undefined);
    }
    for (const ref of this.#evicted.values()) {
      const streamer = ref.deref();
      if (streamer !== undefined) action(streamer);
    }
  }

  /** An evicted streamer was used directly: it is loaded again. */
  revive(streamer: Streamer): void {
    const taken = this.#takeEvicted(streamer.name);
    if (taken === streamer) {
      this.#insert(streamer.name, Promise.resolve(streamer), streamer);
      this.#evictOverCap(streamer.name);
      return;
    }
    // Another streamer would sequence the same stream: the log must not go on.
    assert(this.#slots.get(streamer.name)?.loaded === streamer, () => `an evicted streamer of stream ${JSON.stringify(streamer.name)} was used while another one was loaded`);
  }

  clear(): void {
    this.#slots.clear();
    this.#changes++;
    this.#evicted.clear();
  }

  #insert(name: string, loading: Promise<Streamer>, loaded: Streamer | undefined): Slot {
    const slot: Slot = { loading, loaded };
    this.#slots.set(name, slot);
    this.#changes++;
    return slot;
  }

  /** Moves the entry to the back: the most recently used (where it already is when one stream takes every append). */
  #touch(name: string, slot: Slot): void {
    if (name === this.#lastTouched && this.#changes === this.#changesAtLastTouch) return;
    this.#slots.delete(name);
    this.#slots.set(name, slot);
    this.#lastTouched = name;
    this.#changesAtLastTouch = ++this.#changes;
  }

  #takeEvicted(name: string): Streamer | undefined {
    const streamer = this.#evicted.get(name)?.deref();
    this.#evicted.delete(name);
    if (streamer === undefined) return undefined;
    this.#collected.unregister(streamer);
    streamer.unevict();
    return streamer.closed ? undefined : streamer;
  }

  /** Evicts idle streamers from the least recently used on, until the cap holds; never `keep` (just loaded for a use). */
  #evictOverCap(keep: string): void {
    if (this.#slots.size <= this.maxLoaded) return;
    for (const [name, slot] of this.#slots) {
      const streamer = slot.loaded;
      if (name === keep || streamer === undefined || !streamer.idle) continue;
      this.#slots.delete(name);
      this.#changes++;
      if (!streamer.closed) {
        streamer.evict();
        this.#evicted.set(name, new WeakRef(streamer));
        this.#collected.register(streamer, name, streamer);
        this.#evictions++;
      }
      if (this.#slots.size <= this.maxLoaded) return;
    }
  }
}
