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

/**
 * Restarts in a row, none delivering a record, of a read-only log's catch-up scan whose SSTs the
 * writer compacted away and collected meanwhile (each restart reloads the manifest). Behind a
 * writer that collects at once (`gcGraceMs` 0) on S3, 5 were lost in a row now and then. Also the
 * most times a read-only log's point read (Engine.get) or its trim-point load at open reads again
 * for the same reason.
 */
export const MAX_FRUITLESS_SCAN_RESTARTS = 16;

/**
 * Slabs of appended values (1 MiB each, record-format.ts) kept for reuse once every value in
 * them was released by its flushed memtable: enough for the slabs a memtable of a few MiB frees
 * at once, little to keep in an idle process.
 */
export const VALUE_SLABS_KEPT = 8;

/**
 * A catch-up scan that has read this many value bytes starts again from where it is once the
 * engine's sources changed (a compaction published, say: the scan pins the SSTs it started on).
 * One that started on a memtable since flushed starts again at once (read-session.ts): a slow
 * reader's scan held flushed memtables beside the engine's own, up to 24 MiB in the memory soak.
 */
export const CATCH_UP_RESCAN_BYTES = 4 * MIB;

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

/** Streams a writer Log keeps loaded for appends before it drops idle ones (the `maxLoadedStreams` option). */
export const DEFAULT_MAX_LOADED_STREAMS = 10_000;

/**
 * Stream ids a writer reserves each time it writes the stream-id counter: a creation writes the
 * counter only when the ids reserved before are used up, not every time (the counter key's
 * versions were a third of a creation's writes). Ids reserved and unused when the writer stops
 * are skipped, never reused.
 */
export const STREAM_IDS_PER_COUNTER_WRITE = 1024;

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

// ---------------------------------------------------------------------------------------------
// Engine: internal bounds (not options)
// ---------------------------------------------------------------------------------------------

/**
 * A WAL buffer this large is flushed in a microtask right after the current one, instead of
 * after the current event-loop turn (wal-group-commit.ts): a producer that never yields (a loop
 * of promise continuations) would otherwise starve the flush and nothing would become durable.
 */
export const WAL_FLUSH_NOW_BYTES = MIB;

/** Encoded WAL batches are carved from slabs of this size (wal-format.ts): one allocation per 256 KiB of small batches. */
export const WAL_BATCH_SLAB_BYTES = 256 * 1024;

/** Largest encoded batch carved from a slab; a larger one gets a buffer of its own (a slab is held until all its batches are dropped). */
export const WAL_BATCH_MAX_SLABBED_BYTES = 64 * 1024;

/**
 * The object WAL's writer encodes batches straight into the buffer of the object being built
 * (wal-writer.ts), sized for 1.125x the previous one: at least this much. (The segment WAL's
 * frames are gathered instead: segment-format.ts FrameGather.)
 */
export const WAL_OBJECT_MIN_BUFFER_BYTES = 64 * 1024;

/** ... and at most this much: batches past it are concatenated into the object when it is cut (one copy, as before). */
export const WAL_OBJECT_MAX_BUFFER_BYTES = 16 * MIB;

/**
 * A value at least this long goes into a segment WAL frame as a piece of its own, not copied
 * (segment-format.ts FrameGather): the frame's vectored write reads it where the writer put it.
 * Shorter values are copied beside their keys, where a piece would cost more than the copy.
 */
export const WAL_FRAME_GATHER_MIN_VALUE_BYTES = 256;

/**
 * Shortest wait before the garbage collector retries SSTs it could not delete although their
 * grace period had passed (pinned by a scan, or a failed delete): with gcIntervalMs 0 a timer of
 * 0 would retry every millisecond for as long as a scan runs.
 */
export const GC_MIN_RESCHEDULE_MS = 10;

/** Reads of the newest manifest retried when a listed manifest vanished meanwhile (GC raced the read) before giving up. */
export const MANIFEST_READ_LIST_RACES = 8;

/**
 * Create-only PUTs tried for one SST id (sst-ids.ts). Each taken id makes the writer skip past
 * every SST that exists (a LIST), so only a writer racing us id for id could exhaust them.
 */
export const MAX_SST_ID_ATTEMPTS = 8;

/** WAL objects a replay fetches ahead of the one it applies (wal-replay.ts): hides GET latency at open. */
export const REPLAY_PREFETCH_WAL_OBJECTS = 4;

/** WAL objects one poll of a read-only log applies at most before yielding to readers (the rest come next poll). */
export const FOLLOWER_MAX_WAL_OBJECTS_PER_POLL = 256;

/**
 * While polls of a read-only log find neither the next WAL object nor the next manifest, the
 * follower LISTs the manifests at most this often: the writer's GC may have deleted the next
 * manifest id already (it keeps only a few), and probing ids alone would then never find the
 * newest one. A LIST costs as much as 12 GETs on S3, so it runs on a timer, not every few polls.
 */
export const MANIFEST_LIST_INTERVAL_MS = 5_000;

/**
 * Cap on the doubling of the wait before reopening after a quick run of resets (engine.ts): the
 * wait is bounded by the retry policy's max backoff anyway; the cap keeps the power finite.
 */
export const MAX_RESET_BACKOFF_DOUBLINGS = 16;

/** A store call's first backoff is the retry deadline divided by this (capped at MAX_INITIAL_BACKOFF_MS): a short deadline still sees several retries. */
export const INITIAL_BACKOFF_DEADLINE_DIVISOR = 20;

/** A store call's longest backoff is the retry deadline divided by this (capped at MAX_RETRY_BACKOFF_MS): one wait never takes most of the deadline. */
export const MAX_BACKOFF_DEADLINE_DIVISOR = 4;

/** Engine keys up to this length are compared in JS (entry.ts): cheaper than a native call for short keys. */
export const KEY_JS_COMPARE_MAX_BYTES = 64;

// ---------------------------------------------------------------------------------------------
// Engine: the segment WAL (segment-set.ts, segment-tail.ts)
// ---------------------------------------------------------------------------------------------

/** The first segment of an epoch has this size; each next one doubles, up to `walSegmentBytes`: a short-lived writer preallocates little. */
export const FIRST_WAL_SEGMENT_BYTES = MIB;

/** Doublings of the segment size counted at most (keeps the power finite; the size is capped by `walSegmentBytes` long before). */
export const MAX_WAL_SEGMENT_DOUBLINGS = 20;

/** A LocalStore put of at least this many bytes from a buffer it allocated goes around the page cache (store/direct-write.ts). */
export const DIRECT_WRITE_MIN_BYTES = MIB;

/**
 * Bytes per piece of a direct write that takes turns with the segment WAL's group commits
 * (store/device-turns.ts): about 0.2 ms of the bench machine's disk (1.3 GB/s), so that a group
 * commit that starts while a piece is written waits little. 256 KiB pieces against 8 MiB writes,
 * L0s only (the prototype, 6 interleaved rounds of the bench cases): conc64 +6%, batch100 +6%;
 * 64 KiB and 1 MiB pieces gained less (bench/README.md, "The disk between group commits").
 */
export const DEVICE_TURN_CHUNK_BYTES = 256 * 1024;

/** The longest a piece waits for a group commit to end (a stalled WAL slows large writes, never stops them). */
export const DEVICE_TURN_MAX_WAIT_MS = 2;

/**
 * A memtable that reaches l0SstBytes in the middle of a WAL group is frozen there only when at
 * least this much of the group is still to come (engine/writer-epoch.ts applyDeferredThrough):
 * a memtable outgrows l0SstBytes by less than this plus one batch, and a group with a small rest
 * (the usual one: its last batch is the tail at the cut) stays in one memtable, so its WAL
 * object is collectable once that memtable's L0 is published.
 */
export const MEMTABLE_SPLIT_MIN_REST_BYTES = 1024 * 1024;

/**
 * An inline group-commit fdatasync (walDatasync "inline", docs/decisions/0012) that took this
 * long means a stalling disk: the event loop waited all that time. The segment WAL then waits on
 * the thread pool for WAL_INLINE_DATASYNC_BACKOFF_MS before it goes inline again. A healthy local
 * SSD takes 0.1-0.5 ms; the bench machine's worst seen beside L0 writes was 18 ms.
 */
export const WAL_INLINE_DATASYNC_STALL_MS = 50;

/** How long the segment WAL waits on the thread pool after an inline fdatasync stalled. */
export const WAL_INLINE_DATASYNC_BACKOFF_MS = 60_000;

/**
 * The longest a slice of an L0 build waits for a group commit to start before it runs anyway, and
 * how long the WAL must have been idle for slices to go without waiting (store/device-turns.ts
 * cpuTurn). A busy log starts a group commit every 0.3-1 ms on the bench machine.
 */
export const CPU_TURN_MAX_WAIT_MS = 1;

/** Large writes waiting for a turn at once: each of the engine's writers (L0 flusher, compactor) has one piece at a time. */
export const MAX_DEVICE_TURN_WAITERS = 64;

/** Retired segments kept for reuse at most (segment-set.ts recyclableSegmentsFor: at the defaults 6 of 16 MiB); more are unlinked. */
export const MAX_RECYCLABLE_WAL_SEGMENTS = 16;

/**
 * Zeros are written in pieces of this size while a segment is preallocated (bounds the buffer,
 * not the segment), and where they take turns with the WAL's group commits, each piece is made
 * durable before the next (segment-set.ts zeroFill). Each of those `fdatasync`s grows a fresh
 * file, a metadata change the file system commits, and a group commit's own `fdatasync` waits
 * for it; 1 MiB pieces make a quarter as many as the 256 KiB of DEVICE_TURN_CHUNK_BYTES. Bench
 * cases on a fresh log, this change against the tree before it, 8 interleaved rounds: conc64
 * 99.3k -> 106.2k records/s, batch100 139.7k -> 154.4k; serial unchanged (6,143 and 6,011, p50
 * 0.138 and 0.143 ms, a hack of the same change; bench/README.md, "Zeros in 1 MiB pieces").
 */
export const WAL_SEGMENT_ZERO_FILL_BYTES = MIB;

/**
 * Segment file writes up to this size are made with a synchronous pwrite on the event-loop
 * thread: it only copies into the page cache (the fdatasync after it is what waits for the
 * disk, and stays on the thread pool), and it saves a thread-pool round trip per group commit,
 * as the raw append + fdatasync loop of the bench does. Larger writes go to the thread pool.
 */
export const WAL_SYNC_WRITE_MAX_BYTES = MIB;

/** A frame header claiming a larger payload is not read (damage: no writer writes a frame larger than its segment). */
export const MAX_WAL_FRAME_PAYLOAD_BYTES = 1024 * MIB;

/** Attempts at reading a segment ack file that a concurrent rewrite tore, before the reader skips it this round. */
export const WAL_ACK_READ_ATTEMPTS = 8;

// ---------------------------------------------------------------------------------------------
// Engine: compaction, SST building and scanning, background work (not options)
// ---------------------------------------------------------------------------------------------

/** Most SSTs or runs one compaction merges (compaction-policy.ts): bounds its open inputs and its share of memory. */
export const MAX_COMPACTION_SOURCES = 8;

/** Fewest adjacent runs of similar size the policy merges at once: fewer would rewrite the same bytes too often. */
export const MIN_RUNS_TO_MERGE = 4;

/** Runs within this factor of each other's size count as "similar" for a merge window (size-tiering's ratio). */
export const COMPACTION_SIZE_RATIO = 4;

/** Past this many sorted runs the oldest merge whatever their sizes: a read opens every run it overlaps. */
export const MAX_SORTED_RUNS = 12;

/** Merge every run bottom-most once this fraction of the runs' bytes is reported dead (trims, deletions). */
export const DEAD_BYTES_RATIO = 0.25;

/** Merge every run once the newer runs hold this many times the oldest run's bytes (bounds space amplification). */
export const SPACE_AMPLIFICATION_RATIO = 1;

/**
 * The share of a busy event loop a compaction may take while appends or reads run
 * (docs/decisions/0008-compaction-scheduling.md): it runs at full speed on an idle loop, and at
 * full speed too once L0 flushes wait for it (the L0 list is at l0MaxSsts), so that its debt
 * stays bounded.
 */
export const COMPACTION_BUSY_SHARE = 0.25;

/**
 * The nice value a compaction worker thread gives itself (0 to 19; Linux, where a thread has a
 * priority of its own; elsewhere the worker runs at the process's priority). On a free core the
 * worker runs at full speed whatever its nice value; on cores short of CPU, the kernel gives the
 * log's main thread (appends, acks, reads) about 1024 / (1024 + 110) of what the two compete for
 * at 10 (docs/decisions/0009-compaction-worker.md).
 */
export const COMPACTION_WORKER_NICE = 10;

/**
 * The compaction worker's young generation, in MiB (its `resourceLimits`). A merge allocates an
 * object or two per entry that die at once; V8's default lets a worker's young generation grow
 * to tens of MiB all the same, a second one beside the log's. Capped, the memory soak's peak with
 * the worker fell by about 20 MiB (median of 4 runs: 74 to 51 MiB over its bound) and a full
 * merge of 10^6 records took 8% longer (3.54 to 3.81 s; bench/README.md, "The memtable's rows").
 */
export const COMPACTION_WORKER_YOUNG_GENERATION_MB = 6;

/**
 * A compaction of at least this many input bytes waits for a starting compaction worker; a
 * smaller one runs on the main thread meanwhile (a worker starts with the log's first compaction,
 * in tens of ms from the built package, a second or more from the sources under tsx).
 */
export const COMPACTION_WORKER_WAIT_MIN_BYTES = 8 * 1024 * 1024;

/**
 * A compaction worker with no job for this long ends, and the next compaction starts a new one
 * (tens of ms from the built package). A worker is a second V8 instance: idle, it still holds its
 * heap and buffers, tens of MiB (bench/README.md, "The worker's memory").
 */
export const COMPACTION_WORKER_IDLE_MS = 30_000;

/**
 * A compaction reads the inputs of a log on a LocalStore in GETs of at most this many bytes (its
 * scans' readaheadBytes, in the worker or on the log's thread; on other stores
 * DEFAULT_SST_READAHEAD_BYTES, where a GET costs a request). A scan holds up to three GETs ahead
 * of the merge, and a merge has up to MAX_COMPACTION_SOURCES scans: at 1 MiB a merge of 8 sources
 * held 24 MiB of input reads, in no cap of the memory soak's bound (bench/README.md, "The
 * worker's buffers").
 */
export const COMPACTION_LOCAL_READ_BYTES = 256 * 1024;

/**
 * Bytes of read buffers a compaction worker keeps and lends out at once (compaction-worker.ts
 * InputReadBuffers), each the size of one input read: 32 of COMPACTION_LOCAL_READ_BYTES,
 * four per source of the largest merge (three runs ahead and one under way). When all are lent, a
 * read gets a buffer of its own, as every read did before.
 */
export const COMPACTION_WORKER_READ_POOL_BYTES = 8 * MIB;

/** The L0 flusher drops the output buffer it keeps between flushes (sst-buffer-pool.ts) after this long without a flush. */
export const SST_BUFFER_IDLE_MS = 30_000;

/** A fresh L0 output buffer is this much larger than the SST's size bound, so that the next memtable's (a little larger or smaller) still fits it. */
export const SST_BUFFER_HEADROOM = 1.0625;

/** Attempts at claiming a writer epoch or a fence id before giving up (fence.ts; each loss means a live race). */
export const MAX_EPOCH_CLAIM_ATTEMPTS = 32;

/** Smallest output buffer an SST builder allocates up front (a small flush or compaction still gets room for its index). */
export const MIN_SST_BUILDER_CAPACITY_BYTES = 64 * 1024;

/** Largest buffer an SST builder allocates up front (Node's largest typed array); past it the output goes on in chunks. */
export const MAX_SST_BUILDER_CAPACITY_BYTES = 2 ** 32;

/** An SST builder's output chunks (past its first buffer) double up to this size. */
export const MAX_SST_BUILDER_CHUNK_BYTES = 8 * MIB;

/** Size of the slabs a scan carves its private copies of data blocks from (sst-format.ts RowCopies). */
export const ROW_COPY_SLAB_BYTES = 64 * 1024;

/** Default cap of one SST readahead GET (sst-reader.ts): big enough to amortise a request, small enough to stay lazy. */
export const DEFAULT_SST_READAHEAD_BYTES = MIB;

/**
 * Free readahead buffers a bulk SST scan keeps for its next GETs (sst-reader.ts `bulk`), each of
 * readaheadBytes: a long scan has at most three runs' buffers in use (the run it decodes, one
 * fetched ahead, one being read), so a few free ones let it allocate none past its start.
 */
export const SST_BULK_SCAN_FREE_BUFFERS = 3;

/**
 * An SST scan hands on a chunk once it holds this many entries (sst-reader.ts). Blocks already at
 * hand (read ahead or cached) are joined into one chunk up to here: with 1 KiB values a 4 KiB
 * block holds only three or four entries, and a chunk per block made the consumers' per-chunk
 * awaits dominate. About a read batch (READ_BATCH_MAX_RECORDS): 256 cost a cold catch-up scan of
 * 100 B records a tenth more CPU in the async steps of each layer per chunk.
 */
export const SST_SCAN_CHUNK_ENTRIES = 1024;

/** An SST's verify() reads its data blocks in GETs of about this size, bypassing the cache. */
export const SST_VERIFY_CHUNK_BYTES = 4 * MIB;

/** Entries a merge of sources hands on at a time (read-path.ts): fewer async steps per entry for long scans. */
export const MERGE_CHUNK_ENTRIES = 1024;

/** How long background work (a compaction) may hold the event loop before it yields (CpuSlicer's default). */
export const CPU_SLICE_MS = 0.5;

/**
 * How long an L0 build may hold the event loop before it yields (memtable-flusher.ts). Shorter
 * than CPU_SLICE_MS: a group commit whose fdatasync returns while a slice runs waits for the rest
 * of that slice, so a busy writer's every group paid up to a slice while the build ran. With
 * 0.1 ms (and the clock read every CPU_SLICE_CHECK_ENTRIES entries) the fresh-log write cases
 * gained 10-15% (bench/README.md, "Shorter L0 build slices"); a yield costs a few microseconds.
 * With the segment WAL, slices also wait for a group commit in flight (CPU_TURN_MAX_WAIT_MS).
 */
export const L0_BUILD_SLICE_MS = 0.1;

/** CpuSlicer reads the clock every this many entries (a power of two): at ~1-2 us per entry, well inside a slice. */
export const CPU_SLICE_CHECK_ENTRIES = 16;

/** Background work yields after this many entries even if its slice has time left (CpuSlicer's default). */
export const CPU_SLICE_MAX_ENTRIES = 4096;

/** A yield counts as "the loop is busy" when other work ran at least this long before the slicer got the loop back. */
export const BUSY_LOOP_MIN_MS = 0.05;

/** The longest pause a paced slicer takes at once (it measures again after it). */
export const MAX_PACING_PAUSE_MS = 20;

// ---------------------------------------------------------------------------------------------
// How the engine's internal bounds relate (checked at load)
// ---------------------------------------------------------------------------------------------

assert(2 <= MIN_RUNS_TO_MERGE && MIN_RUNS_TO_MERGE <= MAX_COMPACTION_SOURCES, "a merge window of runs must fit in one compaction");
assert(MIN_L0_COMPACTION_TRIGGER <= MAX_COMPACTION_SOURCES, "a compaction at the smallest trigger takes every L0 it was triggered by");
assert(MIN_RUNS_TO_MERGE <= MAX_SORTED_RUNS, "the forced merge of the oldest runs takes fewer runs than there are");
assert(COMPACTION_SIZE_RATIO > 1 && 0 < DEAD_BYTES_RATIO && DEAD_BYTES_RATIO < 1 && SPACE_AMPLIFICATION_RATIO > 0, "the policy's ratios are meaningful");
assert(0 < COMPACTION_BUSY_SHARE && COMPACTION_BUSY_SHARE <= 1, "a compaction's share of a busy loop is a fraction");
assert(
  0 < COMPACTION_LOCAL_READ_BYTES && COMPACTION_LOCAL_READ_BYTES <= DEFAULT_SST_READAHEAD_BYTES && COMPACTION_WORKER_READ_POOL_BYTES >= DEFAULT_SST_READAHEAD_BYTES,
  "a compaction worker's reads are at most a scan's default readahead, and its pool holds at least one",
);
assert(Number.isInteger(COMPACTION_WORKER_NICE) && 0 <= COMPACTION_WORKER_NICE && COMPACTION_WORKER_NICE <= 19, "a nice value is 0 to 19");
assert(
  MIN_SST_BUILDER_CAPACITY_BYTES <= MAX_SST_BUILDER_CHUNK_BYTES && MAX_SST_BUILDER_CHUNK_BYTES <= MAX_SST_BUILDER_CAPACITY_BYTES,
  "an SST builder's buffers grow from the smallest capacity through chunks to at most the largest",
);
assert(2 * MAX_SST_BLOCK_BYTES <= MAX_SST_BUILDER_CAPACITY_BYTES, "an SST builder's default capacity (two blocks) is always allowed");
assert(BUSY_LOOP_MIN_MS < CPU_SLICE_MS && CPU_SLICE_MS < MAX_PACING_PAUSE_MS, "a slice is longer than a busy-loop blip and shorter than a pacing pause");
assert(0 < L0_BUILD_SLICE_MS && L0_BUILD_SLICE_MS <= CPU_SLICE_MS, "an L0 build's slice is at most a compaction's");
assert(Number.isInteger(Math.log2(CPU_SLICE_CHECK_ENTRIES)) && CPU_SLICE_CHECK_ENTRIES <= CPU_SLICE_MAX_ENTRIES, "the slicer's clock check interval is a power of two within a slice's entries");
assert(MAX_APPEND_BYTES <= WAL_FLUSH_NOW_BYTES, "a single maximal append does not force a flush in a microtask");
assert(WAL_FLUSH_NOW_BYTES < DEFAULT_MAX_UNFLUSHED_BYTES, "a buffer flushes at once well before writers wait on the unflushed cap");
assert(0 < WAL_BATCH_MAX_SLABBED_BYTES && WAL_BATCH_MAX_SLABBED_BYTES <= WAL_BATCH_SLAB_BYTES, "a slabbed batch must fit in a slab");
assert(0 < WAL_OBJECT_MIN_BUFFER_BYTES && WAL_OBJECT_MIN_BUFFER_BYTES <= WAL_OBJECT_MAX_BUFFER_BYTES, "a WAL object's buffer has a size range");
assert(GC_MIN_RESCHEDULE_MS <= DEFAULT_GC_INTERVAL_MS, "the GC's retry floor must not slow the default pacing");
assert(MANIFEST_LIST_INTERVAL_MS < DEFAULT_GC_GRACE_MS, "a reader that lost track of the manifests lists them again before removed SSTs go");
assert(DEFAULT_POLL_INTERVAL_MS <= MANIFEST_LIST_INTERVAL_MS, "manifest LISTs are rarer than the default poll");
assert(
  Number.isSafeInteger(MAX_INITIAL_BACKOFF_MS * 2 ** MAX_RESET_BACKOFF_DOUBLINGS),
  "the reset backoff's power stays a safe integer before its cap applies",
);
assert(
  1 < MAX_BACKOFF_DEADLINE_DIVISOR && MAX_BACKOFF_DEADLINE_DIVISOR <= INITIAL_BACKOFF_DEADLINE_DIVISOR,
  "a backoff starts small and never waits the whole deadline",
);
assert(
  MIN_WAL_SEGMENT_BYTES <= FIRST_WAL_SEGMENT_BYTES && FIRST_WAL_SEGMENT_BYTES <= DEFAULT_WAL_SEGMENT_BYTES,
  "the first segment lies within the allowed segment sizes",
);
assert(FIRST_WAL_SEGMENT_BYTES * 2 ** MAX_WAL_SEGMENT_DOUBLINGS >= MAX_WAL_SEGMENT_BYTES, "segment growth reaches the largest segment size");
assert(MAX_WAL_SEGMENT_BYTES <= MAX_WAL_FRAME_PAYLOAD_BYTES, "every frame a segment can hold is one a reader reads");
assert(MAX_RECYCLABLE_WAL_SEGMENTS >= 1 && WAL_SEGMENT_ZERO_FILL_BYTES <= DEFAULT_WAL_SEGMENT_BYTES, "segment reuse and preallocation bounds");

// ---------------------------------------------------------------------------------------------
// Stores (store/*.ts)
// ---------------------------------------------------------------------------------------------

/** The longest key any store accepts, in UTF-8 bytes (S3's limit). */
export const MAX_OBJECT_KEY_BYTES = 1024;

/** NAME_MAX on Linux and macOS: a longer '/'-separated key segment could not be a LocalStore file name. */
/** LocalStore hashes a put's body for its etag this many bytes per turn of the event loop (about 0.15 ms each). */
export const LOCAL_ETAG_PIECE_BYTES = 1024 * 1024;

export const LOCAL_MAX_KEY_SEGMENT_BYTES = 255;

/**
 * Default `lockStaleMs` of LocalStore: a lock file older than this is abandoned even if its owner
 * looks alive (pid reuse, another host, a hung process). 30 s is far past any live holder's stall
 * between its lock check and its rename (normally microseconds).
 */
export const DEFAULT_LOCAL_LOCK_STALE_MS = 30_000;

/** Default `lockWaitMs` of LocalStore: how long a write waits for another process's lock before it fails, retryably. */
export const DEFAULT_LOCAL_LOCK_WAIT_MS = 40_000;

/** Default `tempStaleMs` of LocalStore: temp files whose writer cannot be checked are swept once older than this. */
export const DEFAULT_LOCAL_TEMP_STALE_MS = 60_000;

/** Directories LocalStore remembers as durable (fsynced); past this the set is cleared, which costs only extra fsyncs. */
export const MAX_KNOWN_DURABLE_DIRS = 10_000;

/** Retries of a LocalStore link/rename that hit ENOENT because a directory vanished under it (a concurrent delete). */
export const MAX_LOCAL_PLACE_RETRIES = 2;

/** Backoff between polls of a held LocalStore lock, doubling from the first to the second. */
export const LOCAL_LOCK_POLL_MIN_MS = 1;
export const LOCAL_LOCK_POLL_MAX_MS = 50;

/** Attempts at breaking a stale LocalStore lock: the second runs after clearing a stale break lock left by a crash. */
export const LOCAL_LOCK_BREAK_ATTEMPTS = 2;

/**
 * Default `requestTimeoutMs` of S3Store: bound on one HTTP attempt until its response headers
 * arrive, and on any idle gap while the body streams. 30 s is long enough for a 16 MiB object on
 * a slow link, short enough that a hung connection ends within the store retry deadline.
 */
export const DEFAULT_S3_REQUEST_TIMEOUT_MS = 30_000;

/** Default `maxAttempts` of S3Store: SDK attempts per request, retries of throttling, 5xx and network errors included. */
export const DEFAULT_S3_MAX_ATTEMPTS = 3;

/** How many times one S3 put sends its request when the outcome stays undecided (s3-store.ts). */
export const MAX_S3_PUT_ROUNDS = 2;

/** Characters of an S3 error message kept in durastream's error (enough to identify it, bounded for logs). */
export const S3_ERROR_DETAIL_MAX_CHARS = 200;

/** FaultyStore: the per-key attempt counters of each call kind remember this many keys, so long benchmarks keep a flat heap. */
export const FAULTY_MAX_TRACKED_ATTEMPT_KEYS = 10_000;

/** FaultyStore: entries per simulated list page (S3's page size); a list pays one latency per page. */
export const FAULTY_LIST_PAGE_ENTRIES = 1000;

/** FaultyStore: a log-normal latency draw is capped at this multiple of its p99, so one unlucky draw cannot stall a benchmark. */
export const FAULTY_LATENCY_CAP_P99_MULTIPLE = 10;

// ---------------------------------------------------------------------------------------------
// How the store limits relate (checked at load)
// ---------------------------------------------------------------------------------------------

assert(LOCAL_MAX_KEY_SEGMENT_BYTES <= MAX_OBJECT_KEY_BYTES, "a key segment is part of a key");
assert(DEFAULT_LOCAL_LOCK_STALE_MS < DEFAULT_LOCAL_LOCK_WAIT_MS, "a writer waits long enough for an abandoned lock to turn stale and be broken");
assert(DEFAULT_LOCAL_LOCK_STALE_MS <= DEFAULT_LOCAL_TEMP_STALE_MS, "a temp file is not swept before the lock of the put that writes it would be broken");
assert(LOCAL_LOCK_POLL_MIN_MS <= LOCAL_LOCK_POLL_MAX_MS && LOCAL_LOCK_POLL_MAX_MS < DEFAULT_LOCAL_LOCK_WAIT_MS, "a lock wait polls several times");
assert(DEFAULT_S3_REQUEST_TIMEOUT_MS <= DEFAULT_STORE_RETRY_DEADLINE_MS, "a hung S3 request ends within the store retry deadline");
assert(DEFAULT_S3_MAX_ATTEMPTS >= 1 && MAX_S3_PUT_ROUNDS >= 1 && LOCAL_LOCK_BREAK_ATTEMPTS >= 1, "every request is sent at least once");
assert(FAULTY_LIST_PAGE_ENTRIES >= 1 && FAULTY_LATENCY_CAP_P99_MULTIPLE >= 1, "a FaultyStore list has pages and a latency cap at or past p99");
