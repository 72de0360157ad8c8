/**
 * An append session: many appends to one stream, pipelined, acknowledged in submit order.
 *
 * `submit()` resolves with a ticket once the append holds its byte permits (the session's own
 * cap, then the Log's), so a producer that awaits each submit is paced by backpressure;
 * `ticket.ack()` resolves when the append is durable. The first error ends the session: every
 * append submitted after it fails with that error and is never written.
 */
import { ClosedError, InternalError } from "../errors.js";
import { holdEventLoop, type ReleaseEventLoop } from "../util/keep-alive.js";
import { ByteSemaphore } from "./byte-semaphore.js";
import type { SessionState, Streamer } from "./streamer.js";
import type { AppendAck, AppendOptions, AppendRecord } from "./types.js";
import { validateAppend } from "./validate.js";

/** Unacknowledged appends past which `submit()` yields to the event loop once per call. */
const YIELD_AFTER_PENDING_APPENDS = 16;

/** What `submit()` resolves with: a handle on the append's ack. */
export interface AppendTicket {
  /** Resolves with the append's ack once it is durable; rejects with its error. */
  ack(): Promise<AppendAck>;
}

export interface AppendSessionDeps {
  streamer(): Promise<Streamer>;
  logSemaphore: ByteSemaphore;
  /** Registers a listener called when the Log closes; returns its unregistration. */
  onLogClose(listener: () => void): () => void;
  /** The failure route (Engine.fail), for a broken invariant met before the append reaches its streamer. */
  fail(error: unknown): void;
}

/**
 * Pipelined appends to one stream, acknowledged in submit order; `stream.appendSession()` opens one.
 * See this module's header for the rules (backpressure, the first error ends the session).
 */
export class AppendSession {
  readonly #deps: AppendSessionDeps;
  readonly #own: ByteSemaphore;
  readonly #state: SessionState = { poisoned: undefined, lastDependencySeq: 0 };
  /** The first error delivered to the caller; later submits fail with it. */
  #failed: Error | undefined;
  readonly #pending = new Set<Promise<AppendAck>>();
  #closed = false;
  /** An open session keeps the process alive, as an open socket does, until it closes, fails or its Log closes. */
  readonly #releaseEventLoop: ReleaseEventLoop;

  /** @internal Sessions come from `stream.appendSession()`. */
  constructor(deps: AppendSessionDeps, maxInflightBytes: number) {
    this.#deps = deps;
    this.#own = new ByteSemaphore(maxInflightBytes);
    const release = holdEventLoop();
    const unregister = deps.onLogClose(release);
    this.#releaseEventLoop = () => {
      unregister();
      release();
    };
  }

  /** The error that ended the session, if one did. */
  get error(): Error | undefined {
    return this.#failed;
  }

  /**
   * Submits one append (1..1000 records, as `stream.append()` takes them). Resolves with a ticket once
   * the append holds its byte permits (backpressure); `ticket.ack()` resolves once it is durable.
   * Rejects at once if the session is closed or already failed.
   */
  async submit(records: AppendRecord[], options?: AppendOptions): Promise<AppendTicket> {
    try {
      return await this.#submit(records, options);
    } catch (error) {
      if (error instanceof InternalError) this.#deps.fail(error); // the one route: the log closes as failed
      throw error;
    }
  }

  async #submit(records: AppendRecord[], options?: AppendOptions): Promise<AppendTicket> {
    if (this.#closed) throw new ClosedError("this append session");
    if (this.#failed !== undefined) throw this.#failed;
    const input = validateAppend(records, options);
    const streamer = await this.#deps.streamer();
    const own = await this.#own.acquire(input.inflightBytes, input.signal);
    let logPermit;
    try {
      logPermit = await this.#deps.logSemaphore.acquire(input.inflightBytes, input.signal);
    } catch (error) {
      own.release();
      throw error;
    }
    const ack = streamer.admit(input, logPermit, this.#state).then(
      (value) => value,
      (error: Error) => {
        this.#failed ??= error;
        this.#releaseEventLoop();
        this.#state.poisoned ??= error;
        throw error;
      },
    );
    ack.catch(() => undefined).finally(() => {
      own.release();
      this.#pending.delete(ack);
    });
    this.#pending.add(ack);
    // A producer looping on `await submit()` runs on promise continuations alone and would never
    // let timers and I/O run (the WAL flush among them). With many appends unacknowledged, give
    // the event loop a turn before handing back the ticket.
    if (this.#pending.size > YIELD_AFTER_PENDING_APPENDS) await new Promise<void>((resolve) => setImmediate(resolve));
    return { ack: () => ack };
  }

  /** `close()`, for `await using session = stream.appendSession()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Stops accepting appends and waits until every submitted one is acknowledged or failed. */
  async close(): Promise<void> {
    this.#closed = true;
    try {
      await Promise.allSettled([...this.#pending]);
    } finally {
      this.#releaseEventLoop();
    }
  }
}
