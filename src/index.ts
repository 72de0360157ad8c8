/**
 * durastream: an embeddable durable log for Node.js. This file is the whole public surface.
 */

// Logs and streams
export { openLog, openStream, Log } from "./log.js";
export type { LogOptions, OpenStreamOptions, LogMetrics, LogHealth, StreamInfo } from "./log.js";
export { Stream } from "./stream/stream.js";
export type { AppendSessionOptions } from "./stream/stream.js";
export { AppendSession } from "./stream/append-session.js";
export type { AppendTicket } from "./stream/append-session.js";
export { ReadSession, ReadBatchSession } from "./stream/read-session.js";
export type { ReadBatch, ReadBatchOptions } from "./stream/read-session.js";
export type {
  AppendRecord,
  AppendHeader,
  AppendHeaders,
  AppendHeaderObject,
  AppendOptions,
  AppendAck,
  ReadFrom,
  ReadLimit,
  ReadOptions,
  ReadRecord,
  RetentionPolicy,
  Timestamping,
  TimestampingMode,
  StreamConfig,
  StreamConfigPatch,
  StreamPosition,
} from "./stream/types.js";
export { recordText, headerText } from "./stream/types.js";
export { fenceRecord, trimRecord, meteredBytes } from "./stream/record-format.js";

// Limits
export {
  MAX_APPEND_RECORDS,
  MAX_APPEND_BYTES,
  MAX_RECORD_BYTES,
  MAX_FENCING_TOKEN_BYTES,
  MAX_STREAM_NAME_BYTES,
  MAX_LIST_STREAMS_LIMIT,
  READ_BATCH_MAX_RECORDS,
  READ_BATCH_MAX_BYTES,
  DEFAULT_INFLIGHT_BYTES,
  MIN_INFLIGHT_BYTES,
  DEFAULT_RETENTION_AGE_SECONDS,
} from "./limits.js";

// Background events: node:diagnostics_channel and the logger option
export { DIAGNOSTICS_CHANNELS } from "./diagnostics.js";
export type { DiagnosticEvent, DurastreamLogger } from "./diagnostics.js";

// Stores
export type { ObjectStore, ByteRange, ObjectInfo, ListEntry, ListOptions, PutCondition, PutResult } from "./store/object-store.js";
export { MemoryStore } from "./store/memory-store.js";
export { LocalStore } from "./store/local-store.js";
export type { LocalStoreOptions } from "./store/local-store.js";
export { S3Store, ensureBucket } from "./store/s3-store.js";
export type { S3StoreOptions } from "./store/s3-store.js";
export { FaultyStore, S3_STANDARD_LATENCY, S3_EXPRESS_LATENCY } from "./store/faulty-store.js";
export type { FaultyStoreOptions, FaultSpec, FaultRule, Latency, LatencyModel, StoreCall, StoreCallKind } from "./store/faulty-store.js";
export { openStore, parseStoreUrl } from "./store/open-store.js";
export type { OpenStoreOptions, ParsedStoreUrl } from "./store/open-store.js";

// Errors
export {
  DurastreamError,
  ValidationError,
  SeqNumMismatchError,
  FencingTokenMismatchError,
  UnwrittenError,
  StreamNotFoundError,
  StreamExistsError,
  FencedError,
  WriterActiveError,
  StorageError,
  CorruptionError,
  ClosedError,
  AbortedError,
  ReadOnlyError,
  NotFoundError,
  PreconditionFailedError,
  InvalidKeyError,
  InvalidRangeError,
  UnsupportedError,
  InternalError,
  isDurastreamError,
  hasCode,
} from "./errors.js";
export type { ErrorCode, WriteOutcome, CloseReason } from "./errors.js";

// Time and randomness (inject them in tests)
export { systemClock, ManualClock } from "./util/clock.js";
export type { Clock, TimerHandle } from "./util/clock.js";
export { systemRandom, seededRandom } from "./util/random.js";
export type { Random } from "./util/random.js";

// Tools: store inspection, Node and web stream interop, Prometheus metrics
export { inspectStore, describeKey } from "./inspect.js";
export type {
  InspectOptions,
  StoreInspection,
  StoreObjectSummary,
  ManifestSummary,
  WalObjectSummary,
  WalSegmentSummary,
  SstSummary,
  KeySummary,
  InspectProblem,
} from "./inspect.js";
export { toReadable, toReadableStream, toAppendWritable, toAppendWritableStream, splitLines } from "./interop.js";
export type { RecordReadableOptions, AppendChunk, AppendSinkOptions, SplitLinesOptions } from "./interop.js";
export { renderPrometheus, PROMETHEUS_CONTENT_TYPE } from "./metrics/prometheus.js";
export type { PrometheusOptions } from "./metrics/prometheus.js";
// Types that public signatures refer to (exported so that the API reference documents them)
export type { HistogramSnapshot } from "./util/histogram.js";
export type { EngineMetrics } from "./engine/engine-metrics.js";
export type { WalDatasync, WalMode } from "./engine/engine-options.js";
export type { StoreRequestCounts } from "./engine/instrumented-store.js";
export type { BlockCacheStats } from "./engine/block-cache.js";
export type { S3Credentials } from "./store/open-store.js";
export type { SeededRandom } from "./util/random.js";
export type { ManualClockOptions } from "./util/clock.js";
export type { FaultEffect, CallPredicate, FaultyStoreCounters, CountsByKind } from "./store/faulty-store.js";
export type { SweepReport } from "./store/local-store.js";
export type { RecordLike } from "./stream/record-format.js";
export type { ErrorOptions } from "./errors.js";
