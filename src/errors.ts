/**
 * Every error durastream throws or rejects with, in one place.
 *
 * Each error has a stable lower-case `code` (a string literal type, so a widened code fails the
 * type test in tests/types), `retryable` (trying the same call again may succeed) and, for
 * writes, `outcome`:
 *   - "not_applied": the write certainly did not happen (validation, a failed condition);
 *   - "unknown": the write may or may not be durable (a timeout, a lost response, a store outage
 *     in the middle of a flush). Read the stream to find out before retrying blindly.
 * Messages say what was wrong and what to do. They never contain credentials or record bodies.
 */

/** Every error code durastream uses; see each error class for when it is raised. */
export type ErrorCode =
  | "validation"
  | "seq_num_mismatch"
  | "fencing_token_mismatch"
  | "unwritten"
  | "stream_not_found"
  | "stream_exists"
  | "fenced"
  | "writer_active"
  | "storage"
  | "corruption"
  | "closed"
  | "aborted"
  | "read_only"
  | "not_found"
  | "precondition_failed"
  | "invalid_key"
  | "invalid_range"
  | "unsupported"
  | "internal";

/**
 * Whether a failed write may have happened: "not_applied" (it certainly did not) or "unknown"
 * (it may be durable: read the stream before retrying blindly).
 */
export type WriteOutcome = "unknown" | "not_applied";

/** Options every error constructor takes. */
export interface ErrorOptions {
  /** The underlying error, kept as `error.cause`. */
  cause?: unknown;
}

/** Base class: catch this to catch everything durastream raises. */
export class DurastreamError extends Error {
  /** The stable, lower-case error code: switch on this rather than on the class or message. */
  readonly code: ErrorCode;
  /** Whether trying the same call again may succeed. */
  readonly retryable: boolean;
  /** For writes: whether the write may have happened; undefined for errors of reads and control calls. */
  readonly outcome: WriteOutcome | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    fields: { retryable?: boolean; outcome?: WriteOutcome; cause?: unknown } = {},
  ) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = fields.retryable ?? false;
    this.outcome = fields.outcome;
  }
}

/** Bad input: a record, an option, a name or a limit. Nothing was written. */
export class ValidationError extends DurastreamError {
  /** Always `"validation"`. */
  declare readonly code: "validation";
  constructor(message: string, options: ErrorOptions = {}) {
    super("validation", message, { outcome: "not_applied", ...options });
  }
}

/** A position in a stream: a sequence number and the timestamp of the record there (or of the last record, for a tail). */
export interface StreamPosition {
  /** The sequence number (for a tail: the one the next record will get). */
  seqNum: number;
  /** Milliseconds since the epoch (for a tail: the last record's timestamp, 0 for an empty stream). */
  timestamp: number;
}

/** `matchSeqNum` did not equal the sequence number the append would have received. */
export class SeqNumMismatchError extends DurastreamError {
  /** Always `"seq_num_mismatch"`. */
  declare readonly code: "seq_num_mismatch";
  /** The sequence number the stream's next record would get: pass it as `matchSeqNum` to append after what is there. */
  readonly expectedSeqNum: number;
  constructor(expectedSeqNum: number, matchSeqNum: number) {
    super(
      "seq_num_mismatch",
      `matchSeqNum ${matchSeqNum} does not match the stream's next sequence number ${expectedSeqNum}; ` +
        `read the stream from ${matchSeqNum} to see what is there, then retry with matchSeqNum ${expectedSeqNum} if appropriate`,
      { outcome: "not_applied" },
    );
    this.expectedSeqNum = expectedSeqNum;
  }
}

/** The append's `fencingToken` is not the stream's current token. */
export class FencingTokenMismatchError extends DurastreamError {
  /** Always `"fencing_token_mismatch"`. */
  declare readonly code: "fencing_token_mismatch";
  /** The stream's current fencing token. */
  readonly expectedFencingToken: string;
  constructor(expectedFencingToken: string, given: string) {
    super(
      "fencing_token_mismatch",
      `fencing token ${JSON.stringify(given)} does not match the stream's current token ` +
        `${JSON.stringify(expectedFencingToken)}; another producer has fenced this stream`,
      { outcome: "not_applied" },
    );
    this.expectedFencingToken = expectedFencingToken;
  }
}

/** A read asked for a position past the stream's tail (and `clamp` was not set). */
export class UnwrittenError extends DurastreamError {
  /** Always `"unwritten"`. */
  declare readonly code: "unwritten";
  /** The stream's tail when the read started. */
  readonly tail: StreamPosition;
  constructor(tail: StreamPosition, what: string) {
    super(
      "unwritten",
      `${what} is past the tail (next seqNum ${tail.seqNum}, last timestamp ${tail.timestamp}); ` +
        `pass clamp: true to start at the tail, or follow: true to wait for new records`,
    );
    this.tail = tail;
  }
}

export class StreamNotFoundError extends DurastreamError {
  /** Always `"stream_not_found"`. */
  declare readonly code: "stream_not_found";
  /** The stream's name. */
  readonly stream: string;
  /** `outcome` is set when a write was refused for it (`"not_applied"`: nothing was written). */
  constructor(stream: string, fields: { outcome?: WriteOutcome } = {}) {
    super(
      "stream_not_found",
      `stream ${JSON.stringify(stream)} does not exist; create it with log.createStream() or pass createIfMissing: true`,
      fields,
    );
    this.stream = stream;
  }
}

export class StreamExistsError extends DurastreamError {
  /** Always `"stream_exists"`. */
  declare readonly code: "stream_exists";
  /** The stream's name. */
  readonly stream: string;
  constructor(stream: string) {
    super("stream_exists", `stream ${JSON.stringify(stream)} already exists`);
    this.stream = stream;
  }
}

/**
 * A writer is alive on this store root (its writer lease is current): opening another writer
 * would fence it. Nothing was written. Pass `takeover: true` (CLI: `--takeover`) to take over
 * on purpose, or open the log `readOnly`.
 */
export class WriterActiveError extends DurastreamError {
  /** Always `"writer_active"`. */
  declare readonly code: "writer_active";
  constructor(holder: string, options: ErrorOptions = {}) {
    super(
      "writer_active",
      `another writer is active on this store (${holder}); opening a writer would fence it. ` +
        `Pass takeover: true (CLI: --takeover) to take over, or open the log read-only`,
      { outcome: "not_applied", ...options },
    );
  }
}

/** Another writer opened the same store root; this one may no longer write. */
export class FencedError extends DurastreamError {
  /** Always `"fenced"`. */
  declare readonly code: "fenced";
  constructor(detail: string, options: ErrorOptions = {}) {
    super(
      "fenced",
      `this writer was fenced by a newer writer on the same store (${detail}); ` +
        `nothing it acknowledged is lost, but it can no longer write: close it`,
      { outcome: "unknown", ...options },
    );
  }
}

/** The store failed or could not be reached. Writes that were pending may or may not be durable. */
export class StorageError extends DurastreamError {
  /** Always `"storage"`. */
  declare readonly code: "storage";
  constructor(message: string, fields: { retryable?: boolean; outcome?: WriteOutcome; cause?: unknown } = {}) {
    super("storage", message, { retryable: fields.retryable ?? true, outcome: fields.outcome ?? "unknown", cause: fields.cause });
  }
}

/**
 * Internal (not exported by the package): a read-only log met an SST that the writer compacted
 * away and collected after this log's manifest was read. The engine has already reloaded the
 * manifest, so the same read, started again, reads the SSTs that replaced it. Callers that can
 * start again (a catch-up scan, a stream-state load) do; to anyone else it is a retryable
 * `storage` error.
 */
export class SstCompactedAwayError extends StorageError {
  constructor(key: string, cause: unknown) {
    super(`${key} was compacted away while it was read; read again`, { retryable: true, outcome: "not_applied", cause });
  }
}

/** An object in the store failed its checksum or could not be decoded. No data from it is returned. */
export class CorruptionError extends DurastreamError {
  /** Always `"corruption"`. */
  declare readonly code: "corruption";
  /** The object's key. */
  readonly key: string;
  constructor(key: string, detail: string, options: ErrorOptions = {}) {
    super("corruption", `object ${JSON.stringify(key)} is corrupt: ${detail}`, options);
    this.key = key;
  }
}

/** Why a log closed: "closed" (by `close()`), "fenced" (another writer took over), "failed" (an internal error). */
export type CloseReason = "closed" | "fenced" | "failed";

/** The log, stream or session was closed. `reason` says why; `cause` holds the error that closed it. */
export class ClosedError extends DurastreamError {
  /** Always `"closed"`. */
  declare readonly code: "closed";
  /** Why it closed. */
  readonly reason: CloseReason;
  constructor(what: string, reason: CloseReason = "closed", options: ErrorOptions = {}) {
    const because = options.cause instanceof Error && reason !== "closed" ? `: ${options.cause.message}` : "";
    super("closed", `${what} is closed${reason === "closed" ? "" : ` (${reason})`}${because}; open it again to continue`, {
      outcome: "not_applied",
      ...options,
    });
    this.reason = reason;
  }
}

/** The caller's AbortSignal fired. For an append, the outcome is unknown once it was submitted. */
export class AbortedError extends DurastreamError {
  /** Always `"aborted"`. */
  declare readonly code: "aborted";
  constructor(what: string, outcome: WriteOutcome = "not_applied", options: ErrorOptions = {}) {
    super("aborted", `${what} was aborted`, { outcome, ...options });
  }
}

/** A write on a log opened with `readOnly: true`. Nothing was written. */
export class ReadOnlyError extends DurastreamError {
  /** Always `"read_only"`. */
  declare readonly code: "read_only";
  constructor(operation: string) {
    super("read_only", `${operation} is not allowed: this log was opened with readOnly: true`, {
      outcome: "not_applied",
    });
  }
}

/** ObjectStore: the key does not exist. */
export class NotFoundError extends DurastreamError {
  /** Always `"not_found"`. */
  declare readonly code: "not_found";
  /** The object's key. */
  readonly key: string;
  /** `options.message` replaces the default message (a missing store root says what to do). */
  constructor(key: string, options: ErrorOptions & { message?: string } = {}) {
    super("not_found", options.message ?? `object ${JSON.stringify(key)} does not exist`, options.cause === undefined ? {} : { cause: options.cause });
    this.key = key;
  }
}

/** ObjectStore: a conditional put lost (create-only key exists, or the etag moved). Not applied. */
export class PreconditionFailedError extends DurastreamError {
  /** Always `"precondition_failed"`. */
  declare readonly code: "precondition_failed";
  /** The object's key. */
  readonly key: string;
  constructor(key: string, detail: string, options: ErrorOptions = {}) {
    super("precondition_failed", `conditional put of ${JSON.stringify(key)} failed: ${detail}`, {
      outcome: "not_applied",
      ...options,
    });
    this.key = key;
  }
}

/** ObjectStore: the key is not allowed (empty, escapes the root, has NUL or backslash, ...). */
export class InvalidKeyError extends DurastreamError {
  /** Always `"invalid_key"`. */
  declare readonly code: "invalid_key";
  /** The object's key. */
  readonly key: string;
  constructor(key: string, detail: string) {
    super("invalid_key", `invalid object key ${JSON.stringify(key)}: ${detail}`, { outcome: "not_applied" });
    this.key = key;
  }
}

/** ObjectStore: a ranged get asked for bytes past the end of the object. */
export class InvalidRangeError extends DurastreamError {
  /** Always `"invalid_range"`. */
  declare readonly code: "invalid_range";
  /** The object's key. */
  readonly key: string;
  constructor(key: string, detail: string) {
    super("invalid_range", `invalid range for ${JSON.stringify(key)}: ${detail}`);
    this.key = key;
  }
}

/** The store or environment lacks a capability durastream needs (for example create-only puts). */
export class UnsupportedError extends DurastreamError {
  /** Always `"unsupported"`. */
  declare readonly code: "unsupported";
  constructor(message: string, options: ErrorOptions = {}) {
    super("unsupported", message, options);
  }
}

/** A broken invariant: a bug in durastream. The log closes; nothing pending is acknowledged. */
export class InternalError extends DurastreamError {
  /** Always `"internal"`. */
  declare readonly code: "internal";
  constructor(message: string, options: ErrorOptions = {}) {
    super("internal", `internal error (a bug in durastream, please report it): ${message}`, {
      outcome: "unknown",
      ...options,
    });
  }
}

/**
 * Asserts an invariant: the one idiom for a broken invariant anywhere in durastream. Kept in
 * production. A failed assertion throws InternalError, which the engine turns into its failure
 * route (`Engine.fail`: the log closes with reason "failed", everything pending fails, nothing is
 * acknowledged after it). Pass the message as a function where building it costs something (a
 * template on a hot path): it is called only when the assertion fails.
 */
export function assert(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new InternalError(typeof message === "string" ? message : message());
}

/** Whether `error` is any durastream error (narrows it to DurastreamError). */
export function isDurastreamError(error: unknown): error is DurastreamError {
  return error instanceof DurastreamError;
}

/** Whether `error` is a durastream error with this `code` (narrows its type). */
export function hasCode<C extends ErrorCode>(error: unknown, code: C): error is DurastreamError & {
  /** The code asked for. */
  code: C;
} {
  return error instanceof DurastreamError && error.code === code;
}
