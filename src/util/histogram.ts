/**
 * A latency histogram with fixed log-scale buckets: O(1) to record, no allocation, good to a
 * few percent for percentiles. Values are milliseconds.
 */

/** Upper bounds of the buckets, in ms: 0.05 ms doubling up to about 26 s; one overflow bucket after. */
const BUCKET_BOUNDS_MS = Array.from({ length: 20 }, (_, i) => 0.05 * 2 ** i);

/** A latency histogram at one moment (`LogMetrics.appendLatency`): counts, percentiles and buckets, in ms. */
export interface HistogramSnapshot {
  /** Values recorded. */
  count: number;
  /** Their sum. */
  sumMs: number;
  /** The largest. */
  maxMs: number;
  /** Median (the upper bound of its bucket, so good to a few percent). */
  p50Ms: number;
  /** 90th percentile. */
  p90Ms: number;
  /** 99th percentile. */
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
  #count = 0;
  #sumMs = 0;
  #maxMs = 0;

  record(valueMs: number): void {
    let index = 0;
    while (index < BUCKET_BOUNDS_MS.length && valueMs > BUCKET_BOUNDS_MS[index]!) index++;
    this.#counts[index]!++;
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

  /** The upper bound of the bucket holding the q-quantile (capped at the largest value seen). */
  #quantile(q: number): number {
    if (this.#count === 0) return 0;
    const rank = Math.ceil(q * this.#count);
    let cumulative = 0;
    for (let i = 0; i < this.#counts.length; i++) {
      cumulative += this.#counts[i]!;
      if (cumulative >= rank) return Math.min(BUCKET_BOUNDS_MS[i] ?? this.#maxMs, this.#maxMs);
    }
    return this.#maxMs;
  }
}
