/**
 * `log.metrics()` in the Prometheus text exposition format, version 0.0.4: what a `/metrics`
 * endpoint serves (`Content-Type: text/plain; version=0.0.4`). No client library is needed.
 *
 * Every metric has a `# HELP` and a `# TYPE` line. Names follow Prometheus conventions: a
 * prefix (default `durastream_`), base units in the name (`_bytes`, `_seconds`), counters end in
 * `_total`; times kept in ms by `metrics()` are converted to seconds. The append latency is a
 * histogram with cumulative `le` buckets, `_sum` and `_count`.
 *
 * The table METRICS below maps each field of LogMetrics to its name, type and help. A numeric
 * field the table does not know yet (a field added to LogMetrics later) is still rendered, as
 * `untyped`, with a name built from its path: nothing in metrics() is silently left out.
 */
import { ValidationError } from "../errors.js";
import type { LogMetrics } from "../log.js";

/** Options of `renderPrometheus()`. */
export interface PrometheusOptions {
  /** Prepended to every metric name (default "durastream_"); must match `[a-zA-Z_:][a-zA-Z0-9_:]*`. */
  prefix?: string;
  /** Labels added to every sample, e.g. `{ instance: "orders-writer" }`. */
  labels?: Record<string, string>;
}

/** The Content-Type of what `renderPrometheus()` returns. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

type Labels = Record<string, string>;

interface Sample {
  /** Dotted path into LogMetrics. */
  path: string;
  labels?: Labels;
}

interface MetricSpec {
  name: string;
  type: "counter" | "gauge";
  help: string;
  samples: Sample[];
  /** Multiply values by this (1/1000 for ms to seconds). */
  scale?: number;
}

const MS = 1 / 1000;

function metric(name: string, type: MetricSpec["type"], path: string, help: string, scale?: number): MetricSpec {
  return { name, type, help, samples: [{ path }], ...(scale === undefined ? {} : { scale }) };
}

/** Every known field of LogMetrics (except appendLatency and engine.state, rendered apart). */
const METRICS: readonly MetricSpec[] = [
  metric("appends_total", "counter", "appends", "Calls of stream.append() that completed, acknowledged or failed."),
  metric("append_errors_total", "counter", "appendErrors", "Calls of stream.append() that failed."),
  metric("inflight_bytes", "gauge", "inflightBytes", "Metered bytes of appends awaiting their acks."),
  metric("inflight_capacity_bytes", "gauge", "inflightCapacityBytes", "Cap on in-flight append bytes (the inflightBytes option)."),
  metric("backpressure_waits_total", "counter", "backpressureWaits", "Appends that waited because the in-flight cap was reached."),
  metric("open_streams", "gauge", "openStreams", "Streams with a loaded streamer in this log."),
  metric("stream_evictions_total", "counter", "streamEvictions", "Idle loaded streams dropped to keep open_streams under maxLoadedStreams."),
  metric("writer_epoch", "gauge", "engine.writerEpoch", "The writer epoch this log holds (bumped by every writer that opens the store)."),
  metric("durable_seq", "gauge", "engine.durableSeq", "Highest engine batch sequence number that is durable."),
  metric("last_seq", "gauge", "engine.lastSeq", "Highest engine batch sequence number assigned."),
  metric("durable_lag_seqs", "gauge", "engine.durableLagSeqs", "Engine batches written but not yet durable."),
  metric("unflushed_bytes", "gauge", "engine.unflushedBytes", "Bytes written but not yet in SSTs."),
  metric("wal_flushes_total", "counter", "engine.walFlushes", "WAL objects written."),
  metric("wal_flush_bytes_total", "counter", "engine.walFlushBytes", "Bytes of WAL objects written."),
  metric("wal_flush_batches_total", "counter", "engine.walFlushBatches", "Engine batches written in WAL objects."),
  metric("wal_flush_duration_seconds_total", "counter", "engine.walFlushDurationMsTotal", "Time spent writing WAL objects.", MS),
  metric("wal_flush_duration_max_seconds", "gauge", "engine.walFlushDurationMsMax", "Longest WAL object write so far.", MS),
  metric("wal_flush_duration_last_seconds", "gauge", "engine.walFlushDurationMsLast", "Duration of the latest WAL object write.", MS),
  metric("l0_flushes_total", "counter", "engine.l0Flushes", "Memtables written as L0 SSTs."),
  metric("l0_ssts", "gauge", "engine.l0Count", "L0 SSTs in the current manifest."),
  metric("sorted_runs", "gauge", "engine.sortedRunCount", "Sorted runs in the current manifest."),
  metric("frozen_memtables", "gauge", "engine.frozenMemtables", "Memtables waiting to be written as SSTs."),
  metric("compactions_total", "counter", "engine.compactions", "Compactions completed."),
  metric("compaction_read_bytes_total", "counter", "engine.compactionBytesRead", "Bytes read by compactions."),
  metric("compaction_written_bytes_total", "counter", "engine.compactionBytesWritten", "Bytes written by compactions."),
  metric("manifest_writes_total", "counter", "engine.manifestWrites", "Manifest versions written."),
  metric("objects_deleted_total", "counter", "engine.objectsDeleted", "Objects deleted by garbage collection."),
  metric("engine_resets_total", "counter", "engine.resets", "Times the engine reopened after a store failure."),
  metric("engine_backpressure_waits_total", "counter", "engine.backpressureWaits", "Writes that waited for unflushed bytes to go down."),
  metric("manifests_adopted_total", "counter", "engine.manifestsAdopted", "Read-only logs: manifests adopted from the writer."),
  metric("follow_errors_total", "counter", "engine.followErrors", "Read-only logs: polls of the store that failed (they are retried)."),
  {
    name: "store_requests_total",
    type: "counter",
    help: "Object store requests, by kind.",
    samples: ["get", "head", "put", "delete", "list"].map((kind) => ({ path: `engine.storeRequests.${kind}`, labels: { kind } })),
  },
  metric("store_listed_keys_total", "counter", "engine.storeRequests.listedKeys", "Keys yielded by object store list calls."),
  metric("store_errors_total", "counter", "engine.storeRequests.errors", "Object store requests that failed."),
  metric("store_get_bytes_total", "counter", "engine.storeRequests.getBytes", "Bytes read from the object store."),
  metric("store_put_bytes_total", "counter", "engine.storeRequests.putBytes", "Bytes written to the object store."),
  metric("block_cache_hits_total", "counter", "engine.cache.hits", "SST block lookups served from the cache."),
  metric("block_cache_misses_total", "counter", "engine.cache.misses", "SST block lookups that loaded the block."),
  metric("block_cache_bytes", "gauge", "engine.cache.bytes", "Bytes of SST blocks in the cache."),
  metric("block_cache_blocks", "gauge", "engine.cache.entries", "SST blocks in the cache."),
  metric("block_cache_evictions_total", "counter", "engine.cache.evictions", "SST blocks evicted to stay within the cache budget."),
];

const ENGINE_STATES = ["open", "recovering", "closed"] as const;
/** Paths rendered by hand: the histogram (all its fields) and the engine state. */
const SPECIAL_PATHS = ["appendLatency", "engine.state"];

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Renders a metrics snapshot as Prometheus text (format 0.0.4), ending with a newline. */
export function renderPrometheus(metrics: LogMetrics, options: PrometheusOptions = {}): string {
  const prefix = options.prefix ?? "durastream_";
  if (prefix !== "" && !NAME.test(prefix)) throw new ValidationError(`Prometheus prefix ${JSON.stringify(prefix)} must match [a-zA-Z_:][a-zA-Z0-9_:]*`);
  const common = options.labels ?? {};
  for (const name of Object.keys(common)) {
    if (!LABEL_NAME.test(name) || name.startsWith("__")) throw new ValidationError(`Prometheus label name ${JSON.stringify(name)} is not valid`);
  }
  const lines: string[] = [];
  renderHistogram(lines, prefix, common, metrics);
  header(lines, `${prefix}engine_state`, "gauge", "1 for the engine's current state (open, recovering, closed), 0 for the others.");
  for (const state of ENGINE_STATES) lines.push(sample(`${prefix}engine_state`, { ...common, state }, metrics.engine.state === state ? 1 : 0));
  for (const spec of METRICS) {
    header(lines, prefix + spec.name, spec.type, spec.help);
    for (const s of spec.samples) lines.push(sample(prefix + spec.name, { ...common, ...s.labels }, (valueAt(metrics, s.path) ?? Number.NaN) * (spec.scale ?? 1)));
  }
  renderUnknown(lines, prefix, common, metrics);
  return `${lines.join("\n")}\n`;
}

function renderHistogram(lines: string[], prefix: string, labels: Labels, metrics: LogMetrics): void {
  const name = `${prefix}append_latency_seconds`;
  const h = metrics.appendLatency;
  header(lines, name, "histogram", "Latency of stream.append() from call to ack or failure.");
  for (const bucket of h.buckets) lines.push(sample(`${name}_bucket`, { ...labels, le: formatNumber(bucket.leMs * MS) }, bucket.count));
  lines.push(sample(`${name}_sum`, labels, h.sumMs * MS));
  lines.push(sample(`${name}_count`, labels, h.count));
}

/** Numeric fields no spec covers (added to LogMetrics after this table was written), as untyped. */
function renderUnknown(lines: string[], prefix: string, labels: Labels, metrics: LogMetrics): void {
  const known = new Set(METRICS.flatMap((spec) => spec.samples.map((s) => s.path)));
  for (const [path, value] of numericLeaves(metrics, "")) {
    if (known.has(path) || SPECIAL_PATHS.some((p) => path === p || path.startsWith(`${p}.`))) continue;
    const name = prefix + path.split(".").map(snakeCase).join("_");
    header(lines, name, "untyped", `LogMetrics field ${path}.`);
    lines.push(sample(name, labels, value));
  }
}

/** Every numeric leaf of an object, as [dotted path, value]. Arrays are skipped (only the histogram has one). */
export function numericLeaves(value: unknown, path: string): [string, number][] {
  if (typeof value === "number") return [[path, value]];
  if (value === null || typeof value !== "object" || Array.isArray(value)) return [];
  return Object.entries(value).flatMap(([key, child]) => numericLeaves(child, path === "" ? key : `${path}.${key}`));
}

function valueAt(metrics: LogMetrics, path: string): number | undefined {
  let value: unknown = metrics;
  for (const part of path.split(".")) value = value === null || typeof value !== "object" ? undefined : (value as Record<string, unknown>)[part];
  return typeof value === "number" ? value : undefined;
}

function snakeCase(part: string): string {
  return part.replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(/[^a-zA-Z0-9_]/g, "_").toLowerCase();
}

function header(lines: string[], name: string, type: string, help: string): void {
  lines.push(`# HELP ${name} ${help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`, `# TYPE ${name} ${type}`);
}

function sample(name: string, labels: Labels, value: number): string {
  const entries = Object.entries(labels);
  const labelText = entries.length === 0 ? "" : `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`;
  return `${name}${labelText} ${formatNumber(value)}`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** A sample value: +Inf, -Inf, NaN, or the number (rounded to 12 significant digits to drop float noise). */
function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(Number.isInteger(value) ? value : Number(value.toPrecision(12)));
}
