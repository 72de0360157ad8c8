/**
 * Test helper: reads everything an engine shows and compares it with a model of the workload
 * (tests/engine/fixtures/workload.ts), for the crash and two-writer tests.
 *
 * The central check is `findDurablePrefix`: after a crash, the store must hold exactly the
 * batches 0..P-1 of the writer, for some P at least the number of acked batches. That one
 * comparison covers "every acked batch is there with exactly its values", "no batch is partly
 * visible" and "nothing after a missing batch is visible" at once; when it fails, the message
 * lists the keys that differ from the acked state and which batch each value came from.
 */
import assert from "node:assert/strict";
import type { Engine, ScannedEntry } from "../../src/engine/engine.js";
import type { KeyRange } from "../../src/engine/entry.js";
import { applyBatch, tagOfValue, textOf, type Model, type WorkloadBatch } from "../engine/fixtures/workload.js";

export async function collect(entries: AsyncIterable<ScannedEntry>): Promise<ScannedEntry[]> {
  const out: ScannedEntry[] = [];
  for await (const entry of entries) out.push(entry);
  return out;
}

/** Fails unless keys are strictly increasing (strictly decreasing with `reverse`): ordered, no duplicates. */
export function assertOrdered(entries: readonly ScannedEntry[], reverse: boolean, context: string): void {
  for (let i = 1; i < entries.length; i++) {
    const order = Buffer.compare(entries[i - 1]!.key, entries[i]!.key);
    assert.ok(reverse ? order > 0 : order < 0, `${context}: ${reverse ? "reverse " : ""}scan out of order or duplicated at ${textOf(entries[i]!.key)}`);
  }
}

/** Full forward and reverse scans, checked for order and for agreeing with each other; returns the visible state. */
export async function scanModel(engine: Engine, context: string): Promise<Model> {
  const forward = await collect(engine.scan({}));
  assertOrdered(forward, false, context);
  const reverse = await collect(engine.scan({}, { reverse: true }));
  assertOrdered(reverse, true, context);
  assert.deepEqual(
    reverse.map((e) => [textOf(e.key), textOf(e.value), e.seq]),
    forward.map((e) => [textOf(e.key), textOf(e.value), e.seq]).reverse(),
    `${context}: the reverse scan does not mirror the forward scan`,
  );
  return new Map(forward.map((e) => [textOf(e.key), { value: textOf(e.value), seq: e.seq }]));
}

/** A bounded scan must return exactly the model's keys in [start, end). */
export async function assertRangeScan(engine: Engine, model: Model, range: { start: string; end: string }, context: string): Promise<void> {
  const keyRange: KeyRange = { start: Buffer.from(range.start), end: Buffer.from(range.end) };
  for (const reverse of [false, true]) {
    const got = (await collect(engine.scan(keyRange, { reverse }))).map((e) => `${textOf(e.key)}=${tagOfValue(textOf(e.value))}@${e.seq}`);
    const want = [...model]
      .filter(([key]) => key >= range.start && key < range.end)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([key, v]) => `${key}=${tagOfValue(v.value)}@${v.seq}`);
    if (reverse) want.reverse();
    assert.deepEqual(got, want, `${context}: ${reverse ? "reverse " : ""}scan of [${range.start}, ${range.end})`);
  }
}

/** Point reads of `keys` must agree with the model (present with its value, or absent). */
export async function assertGets(engine: Engine, model: Model, keys: readonly string[], context: string): Promise<void> {
  for (const key of keys) {
    const got = await engine.get(Buffer.from(key));
    const want = model.get(key);
    assert.equal(got === undefined ? undefined : textOf(got), want?.value, `${context}: get(${key})`);
  }
}

export function modelsEqual(a: Model, b: Model): boolean {
  if (a.size !== b.size) return false;
  for (const [key, v] of a) {
    const w = b.get(key);
    if (w === undefined || w.value !== v.value || w.seq !== v.seq) return false;
  }
  return true;
}

/** Up to `limit` differences, as "key: expected <tag>@seq, got <tag>@seq". */
export function describeDiff(expected: Model, actual: Model, limit = 12): string[] {
  const show = (v: { value: string; seq: number } | undefined) => (v === undefined ? "absent" : `${tagOfValue(v.value)}@${v.seq}`);
  const lines: string[] = [];
  const keys = [...new Set([...expected.keys(), ...actual.keys()])].sort();
  for (const key of keys) {
    const e = expected.get(key);
    const a = actual.get(key);
    if (e?.value === a?.value && e?.seq === a?.seq) continue;
    lines.push(`${key}: expected ${show(e)}, got ${show(a)}`);
    if (lines.length >= limit) break;
  }
  return lines;
}

export interface PrefixSearch {
  /** State before the writer's first batch. */
  base: Model;
  /** Batch i of the writer and the seq it was written with. */
  batch: (i: number) => { batch: WorkloadBatch; seq: number };
  /** Batches acked: the prefix must be at least this long. */
  acked: number;
  /** Longest prefix possible (acked + batches that may have been in flight). */
  maxPrefix: number;
  actual: Model;
  context: string;
  /**
   * The prefix to return when several match: a batch that changes nothing visible (a delete
   * of an absent key, a put that expired already) makes P and P + 1 look the same. The crash
   * test passes what the reopened engine's lastSeq says, and the check then is that it matches.
   */
  preferred?: number;
}

/**
 * Returns P such that base + batches[0..P) equals `actual`, with acked <= P <= maxPrefix (the
 * smallest, or `preferred` when it is among those that match); fails with a diagnosis otherwise.
 */
export function findDurablePrefix(search: PrefixSearch): number {
  const state: Model = new Map(search.base);
  for (let i = 0; i < search.acked; i++) {
    const { batch, seq } = search.batch(i);
    applyBatch(state, batch, seq);
  }
  const ackedState: Model = new Map(state);
  let first: number | undefined;
  for (let p = search.acked; p <= search.maxPrefix; p++) {
    if (modelsEqual(state, search.actual)) {
      first ??= p;
      if (search.preferred === undefined || p === search.preferred) return p;
    } else if (first !== undefined) {
      return first;
    }
    const { batch, seq } = search.batch(p);
    applyBatch(state, batch, seq);
  }
  if (first !== undefined) return first;
  assert.fail(
    `${search.context}: the store does not hold batches 0..P-1 for any P in [${search.acked}, ${search.maxPrefix}] ` +
      `(${search.acked} batches were acked). Differences from the acked state:\n  ` +
      describeDiff(ackedState, search.actual).join("\n  "),
  );
}
