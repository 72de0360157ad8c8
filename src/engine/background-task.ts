/**
 * A background loop that runs at most once at a time: `kick()` starts it unless it is running,
 * `idle()` waits until it stopped. The memtable flusher and the compactor are built on it.
 */
export class BackgroundTask {
  #running: Promise<void> | undefined;

  constructor(private readonly body: () => Promise<void>) {}

  kick(): void {
    this.#running ??= this.body().finally(() => {
      this.#running = undefined;
    });
  }

  async idle(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }
}

/**
 * Paces CPU-heavy background work (an L0 build, a compaction) on the one JS thread that also
 * delivers acks: `due()` is cheap enough to call per entry; once the work has run `sliceMs` on
 * the monotonic clock since its last turn of the event loop (or `maxEntries` entries, whichever
 * comes first), it returns a promise that yields one turn (setImmediate), so WAL completions,
 * acks and new appends run in between. With 4096 entries per turn, a compaction of 1 KiB
 * records held the loop for 10-20 ms at a time and appends' p50 latency rose to 30-50 ms.
 */
export class CpuSlicer {
  #sliceStartMs: number;
  #entries = 0;

  constructor(
    private readonly elapsedMs: () => number,
    private readonly sliceMs = 0.5,
    private readonly maxEntries = 4096,
  ) {
    this.#sliceStartMs = elapsedMs();
  }

  /** Undefined to go on at once; otherwise a promise to await before the next entry. */
  due(): Promise<void> | undefined {
    this.#entries++;
    if ((this.#entries & 63) !== 0 && this.#entries < this.maxEntries) return undefined;
    if (this.#entries < this.maxEntries && this.elapsedMs() - this.#sliceStartMs < this.sliceMs) return undefined;
    return new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      this.#entries = 0;
      this.#sliceStartMs = this.elapsedMs();
    });
  }
}
