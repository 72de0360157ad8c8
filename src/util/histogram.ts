/**
 * A latency histogram: O(1) to record, no allocation after construction. Values are milliseconds.
 *
 * Two sets of counts:
 *   - fine buckets for the percentiles: SUB_BUCKETS_PER_DOUBLING log-spaced buckets per doubling
 *     from FINE_MIN_MS up (an HDR-style log-linear layout). A percentile is read as the geometric
 *     middle of its bucket, capped at the largest value seen: within 1.1% of the true value
 *     (half a bucket, 2^(1/64) - 1) for values from 1 µs to about 19 hours; below 1 µs it reads
 *     1 µs, above the top it reads the largest value seen;
 *   - the coarse Prometheus buckets (0.05 ms doubling up to about 26 s, then +Inf) that
 *     `renderPrometheus()` exports, cumulative.
 */

/** Upper bounds of the Prometheus buckets, in ms: 0.05 ms doubling up to about 26 s; one overflow bucket after. */
const BUCKET_BOUNDS_MS = Array.from({ length: 20 }, (_, i) => 0.05 * 2 ** i);

/** Lowest value the fine buckets tell apart: 1 µs. */
const FINE_MIN_MS = 0.001;
/** Fine buckets per doubling: each spans a factor 2^(1/32), about 2.2%. */
const SUB_BUCKETS_PER_DOUBLING = 32;
/** Doublings the fine buckets cover above FINE_MIN_MS: up to 2^36 µs, about 19 hours. */
const FINE_DOUBLINGS = 36;
const FINE_BUCKETS = SUB_BUCKETS_PER_DOUBLING * FINE_DOUBLINGS;

/** The fine bucket of a value: 0 for anything at or below FINE_MIN_MS, the last one for the top. */
function fineIndex(valueMs: number): number {
  if (!(valueMs > FINE_MIN_MS)) return 0;
  const index = Math.floor(Math.log2(valueMs / FINE_MIN_MS) * SUB_BUCKETS_PER_DOUBLING);
  return index < FINE_BUCKETS ? index : FINE_BUCKETS - 1;
}

/** The geometric middle of a fine bucket, in ms. */
function fineMiddleMs(index: number): number {
  return FINE_MIN_MS * 2 ** ((index + 0.5) / SUB_BUCKETS_PER_DOUBLING);
}

/** A latency histogram at one moment (`LogMetrics.appendLatency`): counts, percentiles and buckets, in ms. */
export interface HistogramSnapshot {
  /** Values recorded. */
  count: number;
  /** Their sum. */
  sumMs: number;
  /** The largest. */
  maxMs: number;
  /** Median, within 1.1% (see the histogram's header). */
  p50Ms: number;
  /** 90th percentile, within 1.1%. */
  p90Ms: number;
  /** 99th percentile, within 1.1%. */
  p99Ms: number;
  /** Cumulative counts per upper bound (Prometheus style); the last bound is +Inf. */
  buckets: {
    /** Upper bound of the bucket, in ms (Infinity for the last). */
    leMs: number;
    /** Values at or below it (cumulative). */
    count: number;
  }[];
}

export class Histogram {
  readonly #counts = new Array<number>(BUCKET_BOUNDS_MS.length + 1).fill(0);
  readonly #fine = new Float64Array(FINE_BUCKETS); // exact counts up to 2^53
  #count = 0;
  #sumMs = 0;
  #maxMs = 0;

  record(valueMs: number): void {
    let index = 0;
    while (index < BUCKET_BOUNDS_MS.length && valueMs > BUCKET_BOUNDS_MS[index]!) index++;
    this.#counts[index]!++;
    this.#fine[fineIndex(valueMs)]!++;
    this.#count++;
    this.#sumMs += valueMs;
    if (valueMs > this.#maxMs) this.#maxMs = valueMs;
  }

  snapshot(): HistogramSnapshot {
    let cumulative = 0;
    const buckets = this.#counts.map((count, i) => {
      cumulative += count;
      return { leMs: BUCKET_BOUNDS_MS[i] ?? Infinity, count: cumulative };
    });
    return {
      count: this.#count,
      sumMs: this.#sumMs,
      maxMs: this.#maxMs,
      p50Ms: this.#quantile(0.5),
      p90Ms: this.#quantile(0.9),
      p99Ms: this.#quantile(0.99),
      buckets,
    };
  }

  /** The q-quantile: the middle of the fine bucket holding it, capped at the largest value seen. */
  #quantile(q: number): number {
    if (this.#count === 0) return 0;
    const rank = Math.ceil(q * this.#count);
    let cumulative = 0;
    for (let i = 0; i < FINE_BUCKETS; i++) {
      cumulative += this.#fine[i]!;
      if (cumulative >= rank) return Math.min(fineMiddleMs(i), this.#maxMs);
    }
    return this.#maxMs;
  }
}
