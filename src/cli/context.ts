/**
 * What every CLI command shares: the process's streams (injectable, so that tests run commands
 * in-process), the Ctrl-C signal, exit codes, how a command opens a log (read-only for the
 * commands that only read, so that they never fence a live writer) and buffered output that
 * respects backpressure and a closed pipe.
 *
 * The CLI uses the public API only (src/index.ts), as any user's program would.
 */
import { once } from "node:events";
import type { Readable, Writable } from "node:stream";
import { openLog, type Log } from "../index.js";

/** Exit codes: 0 success, 1 a failure reported by the library or the store, 2 bad arguments or input. */
export const EXIT_OK = 0;
/** A failure the library or the store reported (not found, corruption, storage, ...). */
export const EXIT_FAILURE = 1;
/** Bad arguments, or input the library refused as invalid (code "validation"). */
export const EXIT_USAGE = 2;

/** The process surroundings of one CLI run. `runCli` fills what the caller leaves out from `process`. */
export interface CliIo {
  /** Where `append` reads lines from. */
  stdin: Readable;
  /** Command output: records, tables, acks. */
  stdout: Writable;
  /** Errors, notes and the progress bar. */
  stderr: Writable;
  /** Fires on Ctrl-C (SIGINT): a follow or an append ends cleanly when it does. */
  signal: AbortSignal;
  /** Whether stderr is a terminal: the bench progress bar is drawn only then (or with --progress). */
  stderrIsTTY: boolean;
  /** Environment for store URLs (S3 endpoint, region, credentials). */
  env: Readonly<Record<string, string | undefined>>;
  /** Base for relative `file://` URLs. */
  cwd: string;
  /** Wall-clock time in ms since the epoch, for relative times like `-5m`. */
  nowMs(): number;
}

/** Per-run state the commands share with `runCli`. */
export class CliContext {
  readonly io: CliIo;
  readonly out: Output;
  /** Set by a command that wants a non-zero exit without an error line of its own making. */
  exitCode = EXIT_OK;

  constructor(io: CliIo) {
    this.io = io;
    this.out = new Output(io.stdout);
  }

  /**
   * A log for a command that only reads: read-only, so it never writes to the store or fences a
   * writer. `pollIntervalMs` paces how often a follow looks for new records (library default if omitted).
   */
  openReadLog(url: string, pollIntervalMs?: number): Promise<Log> {
    return openLog({ store: url, storeOptions: this.#storeOptions(), readOnly: true, ...(pollIntervalMs === undefined ? {} : { pollIntervalMs }) });
  }

  /**
   * A log for a command that writes (create, delete, config set, append, bench). It refuses to
   * fence a live writer (code writer_active) unless the command got `--takeover`.
   */
  openWriteLog(url: string, options: { takeover?: boolean } = {}): Promise<Log> {
    return openLog({ store: url, storeOptions: this.#storeOptions(), takeover: options.takeover === true });
  }

  #storeOptions(): { cwd: string; env: Readonly<Record<string, string | undefined>> } {
    return { cwd: this.io.cwd, env: this.io.env };
  }

  /** Writes one line to stderr (a note, never command output). */
  note(line: string): void {
    this.io.stderr.write(`${line}\n`);
  }
}

/** The `--takeover` option of every command that opens a writer. */
export const TAKEOVER_OPTION_HELP = "open the log even if another writer is active on the store (it is fenced: it can no longer write)";

/** Runs `action` on a log and closes the log however the action ends. */
export async function withLog<T>(open: Promise<Log>, action: (log: Log) => Promise<T>): Promise<T> {
  const log = await open;
  try {
    return await action(log);
  } finally {
    await log.close();
  }
}

/**
 * Buffered stdout. Lines gather until 64 KiB or until the event loop turns (setImmediate), so a
 * catch-up read makes few large writes while a follower still prints each record at once. It
 * waits for 'drain' when the stream is full, and turns a closed pipe (EPIPE, as with `| head`)
 * into `closed` instead of an error, so the command can stop quietly.
 */
export class Output {
  readonly #stream: Writable;
  #chunks: Uint8Array[] = [];
  #bytes = 0;
  #scheduled = false;
  readonly #closedController = new AbortController();
  #drain: Promise<void> | undefined;

  constructor(stream: Writable) {
    this.#stream = stream;
    stream.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EPIPE" || error.code === "ERR_STREAM_DESTROYED") this.#close();
    });
  }

  /** True once the reader of stdout went away: stop producing output. */
  get closed(): boolean {
    return this.#closedController.signal.aborted;
  }

  /**
   * Fires when the reader of stdout goes away (EPIPE, as with `| head -1`): a follow that waits
   * for the next record ends at once instead of when that record arrives. A pipe's end is seen
   * at the first write after the reader left (Node has no way to watch an idle pipe for it).
   */
  get closedSignal(): AbortSignal {
    return this.#closedController.signal;
  }

  #close(): void {
    this.#closedController.abort();
  }

  /** Queues text or bytes; resolves at once unless the stream is full, then when it drained. */
  async write(data: string | Uint8Array): Promise<void> {
    if (this.closed) return;
    const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    this.#chunks.push(bytes);
    this.#bytes += bytes.length;
    if (this.#bytes >= 64 * 1024) {
      this.#flushNow();
    } else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flushNow());
    }
    if (this.#drain !== undefined) await this.#drain;
  }

  /** Writes out everything queued and waits until the stream took it. */
  async flush(): Promise<void> {
    this.#flushNow();
    if (this.#drain !== undefined) await this.#drain;
  }

  #flushNow(): void {
    this.#scheduled = false;
    if (this.#chunks.length === 0 || this.closed) return;
    const bytes = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    this.#chunks = [];
    this.#bytes = 0;
    if (!this.#stream.write(bytes) && this.#drain === undefined) {
      this.#drain = Promise.race([once(this.#stream, "drain"), once(this.#stream, "close")]).then(
        () => {
          this.#drain = undefined;
        },
        () => {
          this.#drain = undefined;
          this.#close();
        },
      );
    }
  }
}
