/**
 * Turns on one disk between the segment WAL's group commits and the LocalStore's large writes
 * (an L0 or a compaction output written around the page cache, direct-write.ts).
 *
 * Why: a group commit is a small write and an fdatasync, and the device serves requests in the
 * order they come. A 64 MiB L0 written in 8 MiB direct writes kept the device busy for about
 * 50 ms, and every fdatasync of that time waited behind it: about 230 group commits lost per L0,
 * a quarter of a busy log's first second (bench/README.md, "The disk between group commits").
 * Yet between two group commits the device is idle while the log's thread acks one group and
 * forms the next (30-40% of the time at 64 appenders). So a large write goes in pieces of
 * DEVICE_TURN_CHUNK_BYTES, and a piece starts only while no group commit is in flight:
 *
 *   WAL:    [write+fdatasync]  acks, next group  [write+fdatasync]  acks, next group ...
 *   store:                    [piece]                              [piece]
 *
 * A piece waits at most DEVICE_TURN_MAX_WAIT_MS for a group commit to end, so that a WAL that
 * stalls (a slow fdatasync, a stopped writer) slows large writes down but never stops them.
 * With no group commit in flight (an idle log, an object WAL) pieces go back to back.
 *
 * The log's thread has the opposite turns: it is idle while a group commit's fdatasync runs, and
 * busy between two (acks, the next group's appends and encoding). CPU-heavy background work on
 * that thread (an L0 build, in slices: background-task.ts CpuSlicer) takes its slices while a
 * group commit is in flight (`cpuTurn`), so that a slice delays an ack only when the fdatasync
 * returns during it, never the forming of the next group:
 *
 *   WAL:    [write+fdatasync]  acks, next group  [write+fdatasync]  acks, next group ...
 *   thread:  slice slice slice                    slice slice slice
 *
 * A slice waits at most CPU_TURN_MAX_WAIT_MS for the next group commit to start, and not at all
 * once the WAL has been idle that long (an idle log builds at full speed). With fdatasyncs made on
 * the log's thread (walDatasync "inline", decision 0012) the thread is busy during the fdatasync
 * too: a slice woken when a group commit starts runs right after that fdatasync returned (before
 * the group's acks), so the build goes one slice per group commit, and at full speed once the
 * WAL is idle (writers held back by maxUnflushedBytes until this very L0 is out). Measured with
 * inline fdatasyncs, 5 interleaved rounds of the bench cases: conc64 100.4k records/s with the
 * turns against 92.3k with slices at every turn of the loop, batch100 132.1k against 129.6k.
 */
import { assert } from "../errors.js";
import { CPU_TURN_MAX_WAIT_MS, DEVICE_TURN_MAX_WAIT_MS, MAX_DEVICE_TURN_WAITERS } from "../limits.js";
import { systemClock, type Clock } from "../util/clock.js";

export class DeviceTurns {
  /** Group commits in flight: one per writer, but a stopped writer's may still end after its successor's started. */
  #flushes = 0;
  /** Wake-ups of the pieces waiting for the group commit in flight to end. */
  readonly #waiting = new Set<() => void>();
  /** Wake-ups of the CPU slices waiting for the next group commit to start. */
  readonly #cpuWaiting = new Set<() => void>();
  /** When the last group commit ended (elapsed clock); -Infinity before the first. */
  #lastFlushEndedMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly clock: Pick<Clock, "setTimer" | "elapsedMs"> = systemClock) {}

  /** A group commit's write and fdatasync start (segment-wal-writer.ts): the CPU slices waiting go now. */
  flushStarted(): void {
    this.#flushes++;
    wakeAll(this.#cpuWaiting);
  }

  /** They returned (or failed): the pieces waiting go now. */
  flushEnded(): void {
    assert(this.#flushes > 0, "a group commit ended that never started");
    if (--this.#flushes > 0) return;
    this.#lastFlushEndedMs = this.clock.elapsedMs();
    wakeAll(this.#waiting);
  }

  /** A group commit is in flight. */
  get flushing(): boolean {
    return this.#flushes > 0;
  }

  /** Pieces waiting for it to end. */
  get waitingCount(): number {
    return this.#waiting.size;
  }

  /**
   * Before a piece of a large write: undefined when it may go now (no group commit in flight),
   * else a promise that resolves when the group commit ends, or after DEVICE_TURN_MAX_WAIT_MS.
   */
  turn(): Promise<void> | undefined {
    if (this.#flushes === 0) return undefined;
    assert(this.#waiting.size < MAX_DEVICE_TURN_WAITERS, () => `more than ${MAX_DEVICE_TURN_WAITERS} large writes wait for a turn on the disk`);
    return this.#wait(this.#waiting, DEVICE_TURN_MAX_WAIT_MS);
  }

  /**
   * Before a slice of CPU-heavy background work on the log's thread: undefined when it may go now
   * (a group commit is in flight, or none ended within CPU_TURN_MAX_WAIT_MS: the WAL is idle),
   * else a promise that resolves when the next group commit starts, or after CPU_TURN_MAX_WAIT_MS.
   */
  cpuTurn(): Promise<void> | undefined {
    if (this.#flushes > 0 || this.clock.elapsedMs() - this.#lastFlushEndedMs >= CPU_TURN_MAX_WAIT_MS) return undefined;
    assert(this.#cpuWaiting.size < MAX_DEVICE_TURN_WAITERS, () => `more than ${MAX_DEVICE_TURN_WAITERS} background tasks wait for a CPU turn`);
    return this.#wait(this.#cpuWaiting, CPU_TURN_MAX_WAIT_MS);
  }

  /** A promise that resolves when `waiting`'s wake-ups are called (wakeAll), or after `maxWaitMs`, once. */
  #wait(waiting: Set<() => void>, maxWaitMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        timer.cancel();
        waiting.delete(wake);
        resolve();
      };
      const timer = this.clock.setTimer(maxWaitMs, wake);
      waiting.add(wake);
    });
  }
}

function wakeAll(waiting: Set<() => void>): void {
  if (waiting.size === 0) return;
  const wakes = [...waiting];
  waiting.clear();
  for (const wake of wakes) wake();
}
