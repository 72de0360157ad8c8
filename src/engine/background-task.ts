import type { WriterEpoch } from "./writer-epoch.js";

/**
 * A background loop that runs at most once at a time: `kick()` starts it unless it is running,
 * `idle()` waits until it stopped. The memtable flusher and the compactor are built on it
 * (through EpochTask).
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

/** What a background task of the writer needs to know when it runs, and where its failures go. */
export interface EpochTaskHost {
  /** The current writer epoch; undefined once the engine closed. */
  readonly epoch: WriterEpoch | undefined;
  /** True once close() was called: no new work starts, and long work is abandoned. */
  readonly closing: boolean;
  /** The failure route of a background task: fenced closes the engine, a bug fails it, anything else reopens it. */
  reportFailure(epoch: WriterEpoch, error: unknown): void;
}

/**
 * A BackgroundTask that works for the current writer epoch: each turn asks `nextJob` for the
 * epoch's next job and runs it, until there is none, the epoch stopped or the engine is closing.
 * A job that throws ends the loop and goes to the host's failure route (the job's epoch is
 * reported, so that a failure of an old epoch never resets a newer one).
 */
export class EpochTask {
  readonly #task = new BackgroundTask(() => this.#run());

  constructor(
    private readonly host: EpochTaskHost,
    private readonly nextJob: (epoch: WriterEpoch) => (() => Promise<void>) | undefined,
  ) {}

  kick(): void {
    this.#task.kick();
  }

  idle(): Promise<void> {
    return this.#task.idle();
  }

  async #run(): Promise<void> {
    for (;;) {
      const epoch = this.host.epoch;
      if (epoch === undefined || epoch.stopped || this.host.closing) return;
      const job = this.nextJob(epoch);
      if (job === undefined) return;
      try {
        await job();
      } catch (error) {
        this.host.reportFailure(epoch, error);
        return;
      }
    }
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
