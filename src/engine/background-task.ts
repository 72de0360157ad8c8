import type { WriterEpoch } from "./writer-epoch.js";
import { BUSY_LOOP_MIN_MS, CPU_SLICE_CHECK_ENTRIES, CPU_SLICE_MAX_ENTRIES, CPU_SLICE_MS, MAX_PACING_PAUSE_MS } from "../limits.js";

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


export interface CpuSlicerOptions {
  /** How long the work may hold the loop before it yields (default CPU_SLICE_MS). */
  sliceMs?: number;
  /** Yield after this many entries even if the slice has time left (default 4096). */
  maxEntries?: number;
  /**
   * The largest share of a busy event loop this work may take, in (0, 1] (default 1: it only
   * yields one turn). Asked at each yield, so that it can change with the work's urgency.
   */
  busyShare?: () => number;
  /** How a pacing pause is taken (default: a setTimeout; tests record it instead). */
  pause?: (ms: number) => Promise<void>;
  /**
   * Asked after each yield, before the next slice: a promise to await first (the log's thread is
   * about to be busy forming a group commit: store/device-turns.ts cpuTurn), or undefined to go on.
   */
  turn?: () => Promise<void> | undefined;
}

const timerPause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Paces CPU-heavy background work (an L0 build, a compaction) on the one JS thread that also
 * delivers acks: `due()` is cheap enough to call per entry; once the work has run `sliceMs` on
 * the monotonic clock since its last turn of the event loop (or `maxEntries` entries, whichever
 * comes first), it returns a promise that yields one turn (setImmediate), so WAL completions,
 * acks and new appends run in between. With 4096 entries per turn, a compaction of 1 KiB
 * records held the loop for 10-20 ms at a time and appends' p50 latency rose to 30-50 ms.
 *
 * Priority (`busyShare` below 1, docs/decisions/0008-compaction-scheduling.md): when other work
 * ran during the yield (at least BUSY_LOOP_MIN_MS), the loop is busy with the foreground, and
 * the slicer pauses until the work's share of the time since its slice started is at most
 * `busyShare()`. An idle loop gives the work every turn at once. The pause is a setTimeout, a
 * scheduling yield like the setImmediate (not a duration the work depends on), so it is not
 * taken from the injected clock: a manual clock must never hold a compaction forever.
 *
 * Turns (`turn`): after the yield, the next slice may also wait for a moment when the loop has
 * nothing better to do. The L0 build waits for a group commit's fdatasync to be in flight
 * (store/device-turns.ts cpuTurn), so that its slices fill the log thread's idle time instead of
 * delaying the next group.
 */
export class CpuSlicer {
  #sliceStartMs: number;
  #entries = 0;
  readonly #sliceMs: number;
  readonly #maxEntries: number;
  readonly #busyShare: (() => number) | undefined;
  readonly #pause: (ms: number) => Promise<void>;
  readonly #turn: (() => Promise<void> | undefined) | undefined;

  constructor(
    private readonly elapsedMs: () => number,
    options: CpuSlicerOptions = {},
  ) {
    this.#sliceMs = options.sliceMs ?? CPU_SLICE_MS;
    this.#maxEntries = options.maxEntries ?? CPU_SLICE_MAX_ENTRIES;
    this.#busyShare = options.busyShare;
    this.#pause = options.pause ?? timerPause;
    this.#turn = options.turn;
    this.#sliceStartMs = elapsedMs();
  }

  /** Undefined to go on at once; otherwise a promise to await before the next entry. */
  due(): Promise<void> | undefined {
    this.#entries++;
    if ((this.#entries & (CPU_SLICE_CHECK_ENTRIES - 1)) !== 0 && this.#entries < this.#maxEntries) return undefined;
    if (this.#entries < this.#maxEntries && this.elapsedMs() - this.#sliceStartMs < this.#sliceMs) return undefined;
    return this.#yield();
  }

  async #yield(): Promise<void> {
    const yieldedAtMs = this.elapsedMs();
    const ranMs = yieldedAtMs - this.#sliceStartMs;
    await new Promise<void>((resolve) => setImmediate(resolve));
    const othersMs = this.elapsedMs() - yieldedAtMs;
    const share = this.#busyShare?.() ?? 1;
    if (share < 1 && othersMs >= BUSY_LOOP_MIN_MS) {
      const pauseMs = Math.min(MAX_PACING_PAUSE_MS, (ranMs * (1 - share)) / share - othersMs);
      if (pauseMs >= 1) await this.#pause(pauseMs);
    }
    const turn = this.#turn?.();
    if (turn !== undefined) await turn;
    this.#entries = 0;
    this.#sliceStartMs = this.elapsedMs();
  }
}
