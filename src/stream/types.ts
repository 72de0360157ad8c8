/**
 * The public types of the stream API: what goes into `append()` and `read()` and what comes back.
 *
 * The names and shapes follow S2's TypeScript SDK (`AppendAck { start, end, tail }`, `ReadFrom`),
 * with JS numbers for sequence numbers and timestamps (checked with `Number.isSafeInteger`,
 * stored as u64). Nothing here does I/O; the two helpers at the end only decode text.
 */
import type { StreamPosition } from "../errors.js";

export type { StreamPosition };

/** One header of a record to append: a name and a value, as strings (stored as UTF-8) or bytes. */
export type AppendHeader = readonly [name: Uint8Array | string, value: Uint8Array | string];

/**
 * The headers of a record to append: `[name, value]` pairs, kept in order. Readonly tuples and
 * plain arrays of pairs are both accepted, so `const headers = [["type", "order"]]` (inferred
 * as `string[][]`) type-checks; each inner array must hold exactly a name and a value (checked
 * when appending, code "validation").
 */
export type AppendHeaders = readonly AppendHeader[] | readonly (readonly (Uint8Array | string)[])[];

/**
 * Headers as an object, a convenience for the common case: `{ type: "order" }` means
 * `[["type", "order"]]`. Names are strings; values strings or bytes. An object cannot hold a
 * name twice, so headers whose names repeat need the list form (`AppendHeaders`), and its order
 * is the object's own property order, in which JavaScript puts integer-like names ("1", "42")
 * first, ascending: when the order of headers matters, use the list form.
 */
export type AppendHeaderObject = Readonly<Record<string, Uint8Array | string>>;

/**
 * A record to append.
 *
 * Strings are stored as their UTF-8 bytes. A record's metered size, which the limits count, is
 * `8 + 2 * headers.length + (bytes of every header name and value) + (bytes of body)`; it must
 * be at most 1 MiB, and so must the sum over one append.
 */
export interface AppendRecord {
  /** The payload. A string is stored as UTF-8 and read back as bytes. */
  body: Uint8Array | string;
  /**
   * Name/value pairs, kept in order; names may repeat. Names must be non-empty, except in the
   * one command form (a single header with an empty name and value "fence" or "trim"). An object
   * (`AppendHeaderObject`) is accepted as a shorthand when no name repeats.
   */
  headers?: AppendHeaders | AppendHeaderObject;
  /**
   * Milliseconds since the epoch. How it is used depends on the stream's timestamping mode:
   * kept (client-prefer, the default; client-require, where it is mandatory) or replaced by the
   * arrival time (arrival). It is capped at the arrival time unless the stream is `uncapped`,
   * and raised to the stream's last timestamp so that timestamps never decrease.
   */
  timestamp?: number;
}

/** Conditions and cancellation for one append. */
export interface AppendOptions {
  /**
   * Append only if the first record would get this sequence number (the stream's tail), for
   * exactly-once producers. Otherwise the append fails with `SeqNumMismatchError`.
   */
  matchSeqNum?: number;
  /**
   * Append only if the stream's fencing token equals this (at most 36 UTF-8 bytes); otherwise
   * `FencingTokenMismatchError`. An append without a token is never fenced.
   */
  fencingToken?: string;
  /**
   * Gives up waiting. Before the append was handed to the engine this fails it with nothing
   * written; after that, the outcome is unknown (the records may still become durable).
   */
  signal?: AbortSignal;
}

/** What a durable append returns. Every position is durable when the ack is delivered. */
export interface AppendAck {
  /** Sequence number and timestamp of the first record appended. */
  start: StreamPosition;
  /** One past the last record appended: `end.seqNum = start.seqNum + records`; its timestamp is the last record's. */
  end: StreamPosition;
  /** The stream's durable tail when the ack was delivered; at or past `end` when others appended too. */
  tail: StreamPosition;
}

/**
 * Where a read starts: one of
 * - `{ seqNum }`: at this sequence number;
 * - `{ timestamp }`: at the first record whose timestamp is at or after this (ms since epoch);
 * - `{ tailOffset }`: this many records before the tail (`0` is the tail itself).
 */
export type ReadFrom =
  | {
      /** Start at this sequence number. */
      seqNum: number;
      /** Not with `seqNum`. */
      timestamp?: never;
      /** Not with `seqNum`. */
      tailOffset?: never;
    }
  | {
      /** Start at the first record whose timestamp is at or after this (ms since the epoch). */
      timestamp: number;
      /** Not with `timestamp`. */
      seqNum?: never;
      /** Not with `timestamp`. */
      tailOffset?: never;
    }
  | {
      /** Start this many records before the tail. */
      tailOffset: number;
      /** Not with `tailOffset`. */
      seqNum?: never;
      /** Not with `tailOffset`. */
      timestamp?: never;
    };

/** Limits that end a read once reached. Either or both; a value of 0 reads nothing. */
export interface ReadLimit {
  /** Most records to return. */
  count?: number;
  /** Most metered bytes to return; a record that would cross the limit ends the read. */
  bytes?: number;
}

/** Options of `stream.read()`. */
export interface ReadOptions {
  /** Where to start. Default `{ tailOffset: 0 }`: the tail (use `{ seqNum: 0 }` for the oldest record still readable). */
  from?: ReadFrom;
  /**
   * With a start past the tail: start at the tail instead of failing with `UnwrittenError`.
   * Default false.
   */
  clamp?: boolean;
  /** Stop after this many records or metered bytes. Default: no limit. */
  limit?: ReadLimit;
  /** Stop before the first record whose timestamp is at or after this (exclusive, ms since epoch). */
  until?: number;
  /** Keep waiting for new records at the tail instead of ending there. Default false. */
  follow?: boolean;
  /**
   * With `follow`: end the read once no record arrived for this many milliseconds (at most
   * 2^31 - 1). Delivered records restart the clock; nothing else does. Default: wait forever.
   */
  waitMs?: number;
  /** Ends the read: the iteration finishes quietly (like `break`) and frees what it held. */
  signal?: AbortSignal;
}

/** A record read back from a stream. */
export interface ReadRecord {
  /** Its sequence number: 0 for the first record of the stream, then one more per record. */
  seqNum: number;
  /** Its timestamp in milliseconds since the epoch; never less than the previous record's. */
  timestamp: number;
  /** Its headers as stored, in order, as bytes. See `headerText()`. */
  headers: [Uint8Array, Uint8Array][];
  /**
   * Its body as bytes, the caller's own: changing them changes nothing stored or read elsewhere.
   * It may be a view into a larger buffer the read decoded into (up to 64 KiB, shared with the
   * records next to it): to keep a body long after the read, copy it (`new Uint8Array(body)`),
   * so that only its own bytes stay in memory. See `recordText()`.
   */
  body: Uint8Array;
}

/** How long a stream keeps records: `{ ageSeconds }` after each was written, or forever. */
export type RetentionPolicy =
  | {
      /** Seconds a record is kept after it was written. */
      ageSeconds: number;
    }
  | "infinite";

/**
 * How a stream sets timestamps:
 * - `"client-prefer"` (default): the record's own timestamp if it has one, else the arrival time;
 * - `"client-require"`: the record's own timestamp, and an append with a record without one fails;
 * - `"arrival"`: always the arrival time.
 */
export type TimestampingMode = "client-prefer" | "client-require" | "arrival";

/** Timestamping settings of a stream. */
export interface Timestamping {
  /** Where timestamps come from. Default "client-prefer". */
  mode: TimestampingMode;
  /**
   * Allow client timestamps later than the arrival time. Default false: they are capped at
   * arrival, so a wrong client clock cannot push the stream's timestamps into the future.
   */
  uncapped: boolean;
}

/** A stream's full configuration, as stored and returned. */
export interface StreamConfig {
  /** How long records are kept. Default `{ ageSeconds: 604800 }` (7 days). */
  retention: RetentionPolicy;
  /** How timestamps are set. */
  timestamping: Timestamping;
}

/**
 * Part of a stream config, for `createStream` (missing fields take the defaults) and
 * `reconfigureStream` (missing fields stay as they are). Changing retention applies to records
 * written afterwards, not to those already stored.
 */
export interface StreamConfigPatch {
  /** New retention. */
  retention?: RetentionPolicy;
  /** New timestamping settings; only the fields given change. */
  timestamping?: Partial<Timestamping>;
}

const utf8 = new TextDecoder();

/** The record's body decoded as UTF-8 (invalid bytes become U+FFFD). */
export function recordText(record: Pick<ReadRecord, "body">): string {
  return utf8.decode(record.body);
}

/** The record's headers decoded as UTF-8 name/value pairs (invalid bytes become U+FFFD). */
export function headerText(record: Pick<ReadRecord, "headers">): [string, string][] {
  return record.headers.map(([name, value]) => [utf8.decode(name), utf8.decode(value)]);
}
