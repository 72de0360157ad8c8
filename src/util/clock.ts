/**
 * The injected time source (STYLE.md §14): everything in durastream that reads the time or waits
 * takes a `Clock` instead of calling `Date.now()` or `setTimeout()` directly, so tests can drive
 * time by hand and stay fast and deterministic.
 *
 * - `systemClock`: `Date.now()` and real Node timers.
 * - `ManualClock`: time moves only when a test calls `advance(ms)`; due timers fire in order, and
 *   the promise chains they start run between firings.
 *
 * Two timelines, as in Node: `nowMs()` is the wall clock (milliseconds since the epoch; record
 * timestamps and expiry come from it, and it may jump), while timers count elapsed time and are
 * not moved by wall-clock jumps. ManualClock models both: `setNowMs()` jumps the wall clock only.
 *
 * Decision: systemClock's timers are NOT unref'd. A pending timer in durastream is always work
 * someone awaits (a flush linger, a retry backoff, a latency in FaultyStore); letting the process
 * exit under it would leave an append neither acknowledged nor failed. The price is that owners
 * must cancel their timers on close, which they must do anyway to stop work on a closed log.
 */
import { AbortedError, ValidationError } from "../errors.js";

/** A scheduled callback; `cancel()` is idempotent and harmless after the timer fired. */
export interface TimerHandle {
  /** Cancels the timer; idempotent, and harmless after it fired. */
  cancel(): void;
  /**
   * Lets the process exit while this timer is pending (Node's `unref`), for upkeep that nobody
   * awaits, such as renewing a writer lease. Optional: clocks without a process to keep alive
   * (ManualClock) leave it out.
   */
  unref?(): void;
}

/**
 * A source of time and timers. Engine code takes one instead of calling Date.now() or setTimeout,
 * so tests can drive time with a ManualClock.
 */
export interface Clock {
  /** Wall-clock time in milliseconds since the epoch. */
  nowMs(): number;
  /**
   * Monotonic elapsed time in milliseconds from an arbitrary origin: never jumps with the wall
   * clock. Measure durations and spacing with it (a wall clock stepped back an hour must not
   * stall a flush for an hour).
   */
  elapsedMs(): number;
  /** Calls `fn` once, after `delayMs` milliseconds of elapsed time (0 means "soon", never synchronously). */
  setTimer(delayMs: number, fn: () => void): TimerHandle;
  /** Resolves after `delayMs`; rejects with `AbortedError` (cause: the signal's reason) if `signal` fires first. */
  sleep(delayMs: number, signal?: AbortSignal): Promise<void>;
}

/** Node's setTimeout fires at once (with a warning) for delays above 2^31 - 1 ms, so longer waits are chained. */
const MAX_NODE_TIMER_DELAY_MS = 2 ** 31 - 1;

/** Refuses delays that would silently become something else (NaN fires at once in Node). */
export function checkDelayMs(delayMs: number): void {
  if (typeof delayMs !== "number" || Number.isNaN(delayMs) || delayMs < 0) {
    throw new ValidationError(`timer delay must be a non-negative number of milliseconds, got ${String(delayMs)}`);
  }
}

/** `sleep` for any clock, built on its `setTimer`. */
export function sleepOn(clock: Pick<Clock, "setTimer">, delayMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const aborted = () => new AbortedError("sleep", "not_applied", { cause: signal?.reason });
    if (signal?.aborted) return reject(aborted());
    const onAbort = () => {
      timer.cancel();
      reject(aborted());
    };
    const timer = clock.setTimer(delayMs, () => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    });
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function setSystemTimer(delayMs: number, fn: () => void): TimerHandle {
  checkDelayMs(delayMs);
  if (delayMs === Infinity) return { cancel() {} };
  let handle: NodeJS.Timeout;
  let unrefed = false;
  const schedule = (remainingMs: number) => {
    const stepMs = Math.min(remainingMs, MAX_NODE_TIMER_DELAY_MS);
    handle = setTimeout(() => (stepMs < remainingMs ? schedule(remainingMs - stepMs) : fn()), stepMs);
    if (unrefed) handle.unref();
  };
  schedule(delayMs);
  return {
    cancel: () => clearTimeout(handle),
    unref: () => {
      unrefed = true;
      handle.unref();
    },
  };
}

/** The real clock: `Date.now()` and Node timers that keep the process alive while pending. */
export const systemClock: Clock = Object.freeze({
  nowMs: () => Date.now(),
  elapsedMs: () => performance.now(),
  setTimer: setSystemTimer,
  sleep: (delayMs: number, signal?: AbortSignal) => sleepOn({ setTimer: setSystemTimer }, delayMs, signal),
});

interface ManualTimer {
  dueMs: number;
  /** Insertion order: timers due at the same time fire in the order they were set. */
  order: number;
  fn: () => void;
}

/** Default bound on timer firings in one `advance`, so a timer that re-arms itself with delay 0 fails loudly. */
export const MAX_MANUAL_TIMER_FIRINGS_PER_ADVANCE = 1_000_000;

/** Options of `new ManualClock(options)`. */
export interface ManualClockOptions {
  /** Initial wall-clock time, ms since the epoch. Default 0. */
  startMs?: number;
  /** Firings one `advance` may make before it gives up. Default MAX_MANUAL_TIMER_FIRINGS_PER_ADVANCE. */
  maxFiringsPerAdvance?: number;
}

/**
 * A clock for tests. Nothing happens until `advance(ms)`, which fires every timer that falls due,
 * earliest first, and lets promise chains run (a macrotask turn) before and after each firing,
 * so code that awaits a sleep and then sets the next timer is followed within the same advance.
 */
export class ManualClock implements Clock {
  /** Elapsed time on the timer timeline. */
  #elapsedMs = 0;
  /** Wall clock minus elapsed time; changed only by `setNowMs`. */
  #wallOffsetMs: number;
  #timers: ManualTimer[] = [];
  #nextOrder = 0;
  readonly #maxFiringsPerAdvance: number;
  /** Two interleaved advances would fire timers out of order, so a second one is refused. */
  #advancing = false;

  constructor(options: ManualClockOptions = {}) {
    this.#wallOffsetMs = options.startMs ?? 0;
    this.#maxFiringsPerAdvance = options.maxFiringsPerAdvance ?? MAX_MANUAL_TIMER_FIRINGS_PER_ADVANCE;
  }

  nowMs(): number {
    return this.#elapsedMs + this.#wallOffsetMs;
  }

  elapsedMs(): number {
    return this.#elapsedMs;
  }

  /** Jumps the wall clock (forwards or backwards) without firing or moving any timer. */
  setNowMs(wallMs: number): void {
    if (!Number.isFinite(wallMs)) throw new ValidationError(`setNowMs needs a finite number, got ${wallMs}`);
    this.#wallOffsetMs = wallMs - this.#elapsedMs;
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    checkDelayMs(delayMs);
    const timer: ManualTimer = { dueMs: this.#elapsedMs + delayMs, order: this.#nextOrder++, fn };
    this.#timers.push(timer);
    return {
      cancel: () => {
        const index = this.#timers.indexOf(timer);
        if (index >= 0) this.#timers.splice(index, 1);
      },
    };
  }

  sleep(delayMs: number, signal?: AbortSignal): Promise<void> {
    return sleepOn(this, delayMs, signal);
  }

  /** Timers set and not yet fired or cancelled. */
  get pendingTimerCount(): number {
    return this.#timers.length;
  }

  /**
   * Moves time forward by `deltaMs`, firing due timers in order (each sees `nowMs()` equal to its
   * due time). Resolves once time reached the target and the last firing's promise chains ran.
   * A timer callback that throws rejects the advance (time stays at that timer's due time).
   */
  async advance(deltaMs: number): Promise<void> {
    checkDelayMs(deltaMs);
    if (!Number.isFinite(deltaMs)) throw new ValidationError("ManualClock.advance needs a finite number of milliseconds");
    if (this.#advancing) throw new ValidationError("ManualClock.advance is already running; await it before advancing again");
    this.#advancing = true;
    try {
      await this.#advanceTo(this.#elapsedMs + deltaMs);
    } finally {
      this.#advancing = false;
    }
  }

  async #advanceTo(targetMs: number): Promise<void> {
    await this.settle();
    for (let firings = 0; ; firings++) {
      const timer = this.#earliestDue(targetMs);
      if (timer === undefined) break;
      if (firings >= this.#maxFiringsPerAdvance) {
        throw new ValidationError(`ManualClock.advance fired ${firings} timers without reaching its target: a timer re-arms itself forever`);
      }
      this.#timers.splice(this.#timers.indexOf(timer), 1);
      this.#elapsedMs = timer.dueMs;
      timer.fn();
      await this.settle();
    }
    this.#elapsedMs = targetMs;
  }

  /** Fires the timers already due (delay 0 included) without moving time. */
  async runDue(): Promise<void> {
    await this.advance(0);
  }

  /**
   * Lets pending promise chains run: one macrotask turn runs every queued microtask, including
   * the ones those queue. Chains that wait on real I/O are not covered (tests use MemoryStore).
   */
  async settle(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  #earliestDue(targetMs: number): ManualTimer | undefined {
    let best: ManualTimer | undefined;
    for (const timer of this.#timers) {
      if (timer.dueMs > targetMs) continue;
      if (best === undefined || timer.dueMs < best.dueMs || (timer.dueMs === best.dueMs && timer.order < best.order)) {
        best = timer;
      }
    }
    return best;
  }
}
