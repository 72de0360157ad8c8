/**
 * Every limit and default durastream enforces, in one place (TigerBeetle's constants.zig habit).
 *
 * The user-facing stream limits carry S2's names so that code written against S2 reads the same.
 * How the limits relate is checked when this module loads: a wrong edit fails at import, not in
 * production under load. The engine's own limits live in their own section at the end.
 */
import { assert } from "./errors.js";

/** One mebibyte, the unit most byte limits are expressed in. */
export const MIB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Stream layer: appends
// ---------------------------------------------------------------------------------------------

/** Most records one append may carry (S2's `MAX_APPEND_RECORDS`). At least one is required. */
export const MAX_APPEND_RECORDS = 1000;

/**
 * Most metered bytes one append may carry, summed over its records (S2's `MAX_APPEND_BYTES`).
 * Metered size of a record = 8 + 2 * headers + header name and value bytes + body bytes.
 */
export const MAX_APPEND_BYTES = MIB;

/** Most metered bytes one record may have. Equal to the batch limit, as in S2. */
export const MAX_RECORD_BYTES = MIB;

/** Metered bytes of a record before its headers and body: 8 (S2's fixed per-record overhead). */
export const RECORD_OVERHEAD_BYTES = 8;

/** Metered bytes each header adds on top of its name and value: 2. */
export const HEADER_OVERHEAD_BYTES = 2;

/** Longest fencing token, in UTF-8 bytes (S2's `MAX_FENCING_TOKEN_LENGTH`). */
export const MAX_FENCING_TOKEN_BYTES = 36;

// ---------------------------------------------------------------------------------------------
// Stream layer: streams
// ---------------------------------------------------------------------------------------------

/** Longest stream name, in UTF-8 bytes (S2: 1..512 bytes). */
export const MAX_STREAM_NAME_BYTES = 512;

/** Most streams one `listStreams` call returns (S2's list limit); the default as well. */
export const MAX_LIST_STREAMS_LIMIT = 1000;

/**
 * S2's default retention, 7 days counted from each record's write time: what a server of the S2
 * API applies when a basin's config does not say. The library's own default is "infinite"
 * (a stream created without a retention keeps its records until trimmed or deleted).
 */
export const DEFAULT_RETENTION_AGE_SECONDS = 7 * 24 * 60 * 60;

/**
 * Longest finite retention age: its value in milliseconds must stay a safe integer when added to
 * a wall-clock time. 100 years is far past any real need; use "infinite" beyond that.
 */
export const MAX_RETENTION_AGE_SECONDS = 100 * 365 * 24 * 60 * 60;

// ---------------------------------------------------------------------------------------------
// Stream layer: backpressure
// ---------------------------------------------------------------------------------------------

/**
 * Default cap on metered bytes held by appends between admission and reply, for the whole log
 * (S2's `--append-inflight-bytes`). Past it, `append()` waits: this bounds the heap.
 */
export const DEFAULT_INFLIGHT_BYTES = 128 * MIB;

/**
 * Bytes each record counts against the in-flight cap on top of its metered size: what one
 * record costs in memory while it waits (its objects, keys and the copies the engine holds).
 * Without it, a flood of tiny records would hold far more heap than the cap says.
 */
export const INFLIGHT_RECORD_OVERHEAD_BYTES = 256;

/** Smallest allowed in-flight cap: one maximal batch must always fit, or it could never start. */
export const MIN_INFLIGHT_BYTES = MIB;

// ---------------------------------------------------------------------------------------------
// Stream layer: reads
// ---------------------------------------------------------------------------------------------

/**
 * Durable batches kept for each live follower (S2's `FOLLOWER_MAX_LAG`). A follower further
 * behind goes back to reading from storage, so a slow reader never holds the writer's memory.
 */
export const FOLLOWER_MAX_LAG_BATCHES = 25;

/** Most records one catch-up scan hands to a reader at a time (S2's read batch cap). */
export const READ_BATCH_MAX_RECORDS = 1000;

/** Most metered bytes one catch-up scan hands to a reader at a time (S2's read batch cap). */
export const READ_BATCH_MAX_BYTES = MIB;

/**
 * Records per timestamp-index entry: only a record whose seqNum is a multiple of this gets one
 * (stream-keys.ts, kind 06). A read by timestamp seeks the index (O(log n)) and then skips at
 * most this many records; an append writes one memtable entry per record instead of two.
 */
export const TIMESTAMP_INDEX_INTERVAL_RECORDS = 64;

/**
 * Longest `waitMs` a following read accepts: Node's timers overflow past 2^31 - 1 ms (about
 * 24.8 days) and would fire at once. Omit `waitMs` to follow without an idle bound.
 */
export const MAX_READ_WAIT_MS = 2 ** 31 - 1;

// ---------------------------------------------------------------------------------------------
// How the stream limits relate (checked at load)
// ---------------------------------------------------------------------------------------------

assert(MAX_RECORD_BYTES <= MAX_APPEND_BYTES, "a maximal record must fit in one append");
assert(
  MAX_APPEND_RECORDS * RECORD_OVERHEAD_BYTES <= MAX_APPEND_BYTES,
  "a batch of MAX_APPEND_RECORDS empty records must fit in MAX_APPEND_BYTES",
);
assert(MAX_APPEND_BYTES <= MIN_INFLIGHT_BYTES, "a maximal append must fit the smallest in-flight cap");
assert(MIN_INFLIGHT_BYTES <= DEFAULT_INFLIGHT_BYTES, "the default in-flight cap must be allowed");
assert(Number.isSafeInteger(DEFAULT_INFLIGHT_BYTES), "the in-flight cap is counted in a JS number");
assert(
  RECORD_OVERHEAD_BYTES + HEADER_OVERHEAD_BYTES + "fence".length + MAX_FENCING_TOKEN_BYTES <= MAX_RECORD_BYTES,
  "a fence command record with the longest token must fit in a record",
);
assert(
  0 < DEFAULT_RETENTION_AGE_SECONDS && DEFAULT_RETENTION_AGE_SECONDS <= MAX_RETENTION_AGE_SECONDS,
  "the default retention must be an allowed retention",
);
assert(
  Number.isSafeInteger(Date.UTC(9999, 0) + MAX_RETENTION_AGE_SECONDS * 1000),
  "an expiry time (now + retention) must be a safe integer for any plausible clock",
);
assert(READ_BATCH_MAX_RECORDS >= MAX_APPEND_RECORDS, "a read batch can hold any single append");
assert(READ_BATCH_MAX_BYTES >= MAX_RECORD_BYTES, "a read batch can hold the largest record");
assert(FOLLOWER_MAX_LAG_BATCHES >= 1, "a follower must be able to hold at least one batch");
assert(
  Number.isSafeInteger(TIMESTAMP_INDEX_INTERVAL_RECORDS) && 1 <= TIMESTAMP_INDEX_INTERVAL_RECORDS && TIMESTAMP_INDEX_INTERVAL_RECORDS <= READ_BATCH_MAX_RECORDS,
  "a read by timestamp skips at most one read batch of records after its index seek",
);

// ---------------------------------------------------------------------------------------------
// Log: the writer lease (writer-lease.ts)
// ---------------------------------------------------------------------------------------------

/**
 * How often a writer renews its lease: one PUT per period (on S3, 10 s costs about $1.30 a
 * month per writer at $0.005 per 1,000 PUTs).
 */
export const WRITER_LEASE_RENEW_MS = 10_000;

/**
 * How long a lease stays valid after its last renewal: a writer that crashed on another host is
 * taken for alive this long (on the same host, a dead pid is seen at once). Three periods, so
 * that two renewals in a row may fail or be slow before a live writer looks dead.
 */
export const WRITER_LEASE_TTL_MS = 3 * WRITER_LEASE_RENEW_MS;

assert(WRITER_LEASE_TTL_MS >= 2 * WRITER_LEASE_RENEW_MS, "a lease must outlive at least one late renewal");

// ---------------------------------------------------------------------------------------------
// Engine: defaults and bounds of its options (engine-options.ts validates against these)
// ---------------------------------------------------------------------------------------------

/**
 * Default least time between the starts of two WAL flushes on a local disk or in memory: 5 ms
 * bounds WAL objects to 200 per second while adding at most 5 ms to an ack.
 */
export const DEFAULT_FLUSH_INTERVAL_MS = 5;

/**
 * Default flush interval on S3, where every WAL PUT is billed: 50 ms is at most 20 PUTs per
 * second, about $260 a month at $0.005 per 1,000 PUTs. Stores say so through
 * `ObjectStore.preferredFlushIntervalMs` (S3Store does).
 */
export const DEFAULT_S3_FLUSH_INTERVAL_MS = 50;

/** Longest flush interval: past a minute an ack waits longer than any caller would. */
export const MAX_FLUSH_INTERVAL_MS = 60_000;

/** Default memtable size at which it is frozen and written as an L0 SST: 64 MiB, one SST PUT per 64 MiB written. */
export const DEFAULT_L0_SST_BYTES = 64 * MIB;

/**
 * Most frozen memtables waiting for their L0 flush before writers wait, whatever their size.
 * Each costs one L0 flush (an SST PUT and a manifest write: about 100 ms on S3) before a close
 * or a reopened writer that replays them is done: 16 bounds that to a couple of seconds even
 * with a tiny `l0SstBytes`. At the defaults the byte cap binds first (256 / 64 MiB = 4).
 */
export const MAX_FROZEN_MEMTABLES = 16;

/** Smallest `l0SstBytes` (and `maxSstBytes`, `maxUnflushedBytes`): below 1 KiB an SST would hold a few entries. */
export const MIN_SST_BYTES = 1024;

/**
 * Default cap on bytes not yet in an SST (WAL buffer plus memtables), past which writers wait:
 * 256 MiB, or two memtables when `l0SstBytes` is larger, so that one can be written while the
 * next fills.
 */
export const DEFAULT_MAX_UNFLUSHED_BYTES = 256 * MIB;

/** Default time a failing store call is retried before pending writes fail: 30 s rides out a short outage. */
export const DEFAULT_STORE_RETRY_DEADLINE_MS = 30_000;

/** Longest first backoff of a retried store call (a twentieth of the deadline when that is shorter). */
export const MAX_INITIAL_BACKOFF_MS = 50;

/** Longest backoff between two retries of a store call (a quarter of the deadline when that is shorter). */
export const MAX_RETRY_BACKOFF_MS = 2_000;

/** Default byte budget of the SST block cache: 64 MiB holds the index and hot blocks of many SSTs. */
export const DEFAULT_BLOCK_CACHE_BYTES = 64 * MIB;

/** Default target size of an SST data block: 16 KiB, a few records of 1 KiB per seek, one GET per block. */
export const DEFAULT_SST_BLOCK_BYTES = 16 * 1024;

/** Smallest SST block size: below 32 bytes every row is a block of its own anyway. */
export const MIN_SST_BLOCK_BYTES = 32;

/** Largest SST block size: a seek reads and checks a whole block, so past 16 MiB it reads too much. */
export const MAX_SST_BLOCK_BYTES = 16 * MIB;

/** Default largest SST a compaction writes (also its output buffer, its share of memory): 64 MiB. */
export const DEFAULT_MAX_SST_BYTES = 64 * MIB;

/** Default number of L0 SSTs that triggers a compaction into a sorted run. */
export const DEFAULT_L0_COMPACTION_TRIGGER = 4;

/** Bounds of `l0CompactionTrigger`: a compaction merges at least 2 L0s, and at most 64 at once. */
export const MIN_L0_COMPACTION_TRIGGER = 2;
export const MAX_L0_COMPACTION_TRIGGER = 64;

/** Default number of L0 SSTs at which memtable flushes wait for compaction (at least twice the trigger). */
export const DEFAULT_L0_MAX_SSTS = 16;

/** Default least time between garbage collection passes: 10 s (a pass LISTs the store). */
export const DEFAULT_GC_INTERVAL_MS = 10_000;

/** Default time an SST removed from the manifest is kept for readers in other processes: 60 s. */
export const DEFAULT_GC_GRACE_MS = 60_000;

/** Default number of old manifests kept besides the current one, and the most allowed. */
export const DEFAULT_MANIFESTS_KEPT = 4;
export const MAX_MANIFESTS_KEPT = 1000;

/** Default poll interval of a read-only log (two GETs per idle poll), and the longest allowed (an hour). */
export const DEFAULT_POLL_INTERVAL_MS = 1_000;
export const MAX_POLL_INTERVAL_MS = 3_600_000;

/**
 * A clean close() flushes the memtables to an L0 when the WAL past the replay point holds more
 * than this many objects or frames (fences included), so that a run of short-lived writers (a CLI
 * append, a cron job) leaves the next open at most this much to replay instead of all of their
 * history. Below it a close leaves the WAL as it is: replaying a few objects costs less than an
 * SST and a manifest per close.
 */
export const CLOSE_FLUSH_MIN_WAL_IDS = 32;

/** Default size of a segment file of the segment WAL: 16 MiB, preallocated once and recycled. */
export const DEFAULT_WAL_SEGMENT_BYTES = 16 * MIB;

/** Bounds of `walSegmentBytes`: a segment holds at least a few frames, and at most 1 GiB is preallocated at once. */
export const MIN_WAL_SEGMENT_BYTES = 4 * 1024;
export const MAX_WAL_SEGMENT_BYTES = 1024 * MIB;

// ---------------------------------------------------------------------------------------------
// How the engine limits relate (checked at load)
// ---------------------------------------------------------------------------------------------

assert(0 <= DEFAULT_FLUSH_INTERVAL_MS && DEFAULT_FLUSH_INTERVAL_MS <= MAX_FLUSH_INTERVAL_MS, "the default flush interval must be allowed");
assert(DEFAULT_FLUSH_INTERVAL_MS <= DEFAULT_S3_FLUSH_INTERVAL_MS && DEFAULT_S3_FLUSH_INTERVAL_MS <= MAX_FLUSH_INTERVAL_MS, "the S3 flush interval must be allowed");
assert(MIN_SST_BYTES <= DEFAULT_L0_SST_BYTES && MIN_SST_BYTES <= DEFAULT_MAX_SST_BYTES, "the default SST sizes must be allowed");
assert(DEFAULT_MAX_UNFLUSHED_BYTES <= MAX_FROZEN_MEMTABLES * DEFAULT_L0_SST_BYTES, "at the defaults the byte cap, not the count of frozen memtables, paces writers");
assert(DEFAULT_MAX_UNFLUSHED_BYTES >= 2 * DEFAULT_L0_SST_BYTES, "the unflushed cap must hold a memtable being written and the next one");
assert(MAX_APPEND_BYTES < DEFAULT_MAX_UNFLUSHED_BYTES, "a maximal append must fit under the unflushed cap");
assert(
  MIN_SST_BLOCK_BYTES <= DEFAULT_SST_BLOCK_BYTES && DEFAULT_SST_BLOCK_BYTES <= MAX_SST_BLOCK_BYTES,
  "the default SST block size must be in its range",
);
assert(DEFAULT_SST_BLOCK_BYTES <= DEFAULT_L0_SST_BYTES, "an L0 SST must hold at least one block");
assert(
  MIN_L0_COMPACTION_TRIGGER <= DEFAULT_L0_COMPACTION_TRIGGER && DEFAULT_L0_COMPACTION_TRIGGER <= MAX_L0_COMPACTION_TRIGGER,
  "the default compaction trigger must be allowed",
);
assert(DEFAULT_L0_MAX_SSTS >= 2 * DEFAULT_L0_COMPACTION_TRIGGER, "flushes must not stall before a compaction can start twice");
assert(MAX_INITIAL_BACKOFF_MS <= MAX_RETRY_BACKOFF_MS && MAX_RETRY_BACKOFF_MS < DEFAULT_STORE_RETRY_DEADLINE_MS, "a retry must fit in the deadline");
assert(1 <= DEFAULT_MANIFESTS_KEPT && DEFAULT_MANIFESTS_KEPT <= MAX_MANIFESTS_KEPT, "the default manifests kept must be allowed");
assert(1 <= DEFAULT_POLL_INTERVAL_MS && DEFAULT_POLL_INTERVAL_MS <= MAX_POLL_INTERVAL_MS, "the default poll interval must be allowed");
assert(
  MIN_WAL_SEGMENT_BYTES <= DEFAULT_WAL_SEGMENT_BYTES && DEFAULT_WAL_SEGMENT_BYTES <= MAX_WAL_SEGMENT_BYTES,
  "the default WAL segment size must be allowed",
);
assert(DEFAULT_GC_GRACE_MS >= DEFAULT_POLL_INTERVAL_MS, "a reader polling at the default interval must see a removal before its SSTs go");
