/**
 * Bench statistics: latency samples with percentiles, and the median/min/max summary used to
 * fold the repeated runs of one case into one table row.
 *
 * Percentiles use the nearest-rank method on the sorted samples (p99 of 100 samples is the 99th
 * smallest), which never invents a value that was not measured.
 */

/** Collects latency samples in milliseconds in a growable Float64Array (no per-sample objects). */
export class LatencyRecorder {
  #samples = new Float64Array(1024);
  #count = 0;

  add(latencyMs: number): void {
    if (this.#count === this.#samples.length) {
      const grown = new Float64Array(this.#samples.length * 2);
      grown.set(this.#samples);
      this.#samples = grown;
    }
    this.#samples[this.#count++] = latencyMs;
  }

  get count(): number {
    return this.#count;
  }

  /** p50/p99/max and the mean, in ms; all NaN when nothing was recorded. */
  summary(): LatencySummary {
    const sorted = this.#samples.slice(0, this.#count).sort();
    let total = 0;
    for (const value of sorted) total += value;
    return {
      count: this.#count,
      meanMs: this.#count === 0 ? Number.NaN : total / this.#count,
      p50Ms: percentile(sorted, 50),
      p90Ms: percentile(sorted, 90),
      p99Ms: percentile(sorted, 99),
      maxMs: this.#count === 0 ? Number.NaN : sorted[this.#count - 1]!,
    };
  }
}

export interface LatencySummary {
  count: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Nearest-rank percentile of an ascending array; NaN for an empty one. */
export function percentile(sortedAscending: ArrayLike<number>, p: number): number {
  const n = sortedAscending.length;
  if (n === 0) return Number.NaN;
  const rank = Math.min(n, Math.max(1, Math.ceil((p / 100) * n)));
  return sortedAscending[rank - 1]!;
}

/** Median, min and max of the runs of one case (NaN values, from failed measurements, are ignored). */
export interface Spread {
  median: number;
  min: number;
  max: number;
  /** How many runs had a value. */
  n: number;
}

export function spread(values: readonly number[]): Spread {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, n: 0 };
  const mid = Math.floor(n / 2);
  const median = n % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[n - 1]!, n };
}

/** Folds run results (flat records of numbers) into one Spread per metric name. */
export function spreadByMetric(runs: readonly Record<string, number>[]): Record<string, Spread> {
  const names = new Set<string>();
  for (const run of runs) for (const name of Object.keys(run)) names.add(name);
  const out: Record<string, Spread> = {};
  for (const name of names) out[name] = spread(runs.map((run) => run[name] ?? Number.NaN));
  return out;
}

export const MiB = 1024 * 1024;
