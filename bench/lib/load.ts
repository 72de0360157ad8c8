/**
 * Closed-loop load: N writers, each issuing one operation and awaiting it before the next, so
 * exactly N operations are in flight at all times. Time-bound: a warm-up, then a measured window,
 * then the writers stop issuing and the driver waits for what is still in flight.
 *
 *   |-- warm-up --|--------- measured window ---------|-- drain --|
 *                 ^ onWindowStart, ticks every tickMs ^ onWindowEnd
 *
 * An operation counts when it completes inside the window; its latency (from the call to the
 * resolution of its promise) is recorded then. Window edges come from timers, and the actual
 * times at which they fired are used as the window's length.
 */
import { performance } from "node:perf_hooks";
import { LatencyRecorder, type LatencySummary } from "./stats.js";

export interface ClosedLoopOptions {
  writers: number;
  warmupMs: number;
  durationMs: number;
  /** One operation of writer `writer`; resolves when it is acknowledged. */
  operation: (writer: number) => Promise<void>;
  onWindowStart?: (nowMs: number) => void;
  onWindowEnd?: (nowMs: number) => void;
  /** Called every `tickMs` inside the window (and at its edges), e.g. to sample counters. */
  onTick?: (nowMs: number) => void;
  tickMs?: number;
}

export interface ClosedLoopResult {
  /** Operations completed inside the window. */
  operations: number;
  windowMs: number;
  latency: LatencySummary;
}

export async function runClosedLoop(options: ClosedLoopOptions): Promise<ClosedLoopResult> {
  let phase: "warmup" | "measure" | "done" = "warmup";
  let windowStartMs = 0;
  let windowEndMs = 0;
  let operations = 0;
  const latency = new LatencyRecorder();
  let ticker: NodeJS.Timeout | undefined;

  const startTimer = setTimeout(() => {
    windowStartMs = performance.now();
    phase = "measure";
    options.onWindowStart?.(windowStartMs);
    options.onTick?.(windowStartMs);
    if (options.onTick !== undefined) ticker = setInterval(() => options.onTick!(performance.now()), options.tickMs ?? 100);
  }, options.warmupMs);
  const endTimer = setTimeout(() => {
    windowEndMs = performance.now();
    phase = "done";
    if (ticker !== undefined) clearInterval(ticker);
    options.onTick?.(windowEndMs);
    options.onWindowEnd?.(windowEndMs);
  }, options.warmupMs + options.durationMs);

  const writer = async (index: number): Promise<void> => {
    while (phase !== "done") {
      const startMs = performance.now();
      try {
        await options.operation(index);
      } catch (error) {
        phase = "done"; // one failed writer stops the others: the measurement is void
        throw error;
      }
      if (phase === "measure") {
        operations++;
        latency.add(performance.now() - startMs);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: options.writers }, (_, i) => writer(i)));
  } finally {
    clearTimeout(startTimer);
    clearTimeout(endTimer);
    if (ticker !== undefined) clearInterval(ticker);
  }
  return { operations, windowMs: windowEndMs - windowStartMs, latency: latency.summary() };
}

/** Records/s, payload MiB/s (values only) and ack latency of a closed-loop write run. */
export function writeLoadMetrics(result: ClosedLoopResult, shape: { batchRecords: number; valueBytes: number }): Record<string, number> {
  const seconds = result.windowMs / 1000;
  const recordsPerSec = (result.operations * shape.batchRecords) / seconds;
  return {
    recordsPerSec,
    mibPerSec: (recordsPerSec * shape.valueBytes) / (1024 * 1024),
    writesPerSec: result.operations / seconds,
    p50Ms: result.latency.p50Ms,
    p90Ms: result.latency.p90Ms,
    p99Ms: result.latency.p99Ms,
    maxMs: result.latency.maxMs,
    windowMs: result.windowMs,
  };
}
