/**
 * Crash test at the stream level (DESIGN 1.3, 5): a child process (fixtures/stream-writer.ts)
 * appends to two streams of a Log on a LocalStore root, with many appends in flight on one and
 * an append session on the other, and prints every ack; the parent SIGKILLs it at a seeded
 * random moment (about one round in five while it opens), then reopens the root and checks:
 *   - every acked append is present, at the seqNums its ack gave, with its bodies and headers;
 *   - each stream holds exactly whole appends in the order they were sent, no gap, no duplicate,
 *     and nothing past the appends the child could have sent;
 *   - checkTail() is at or past the last acked end and equals the end of the durable appends;
 *   - the next append continues at the tail (the parent appends one record per stream);
 *   - the next child opens at exactly the tails the parent left.
 * Twenty rounds on the same root, so each recovery starts from what the previous ones left.
 *
 * Replay: STREAM_CRASH_SEED=<seed> [STREAM_CRASH_ROUNDS=<n>] bash scripts/run-tests.sh tests/stream/stream-crash.test.ts
 * (kill moments come from the seed; where they land in the child's work still depends on timing).
 */
import assert from "node:assert/strict";
import path from "node:path";
import { it } from "node:test";
import { LocalStore, headerText, openLog, recordText, type Stream } from "../../src/index.js";
import { seededRandom, type Random } from "../../src/util/random.js";
import { REPO_ROOT, delay, spawnTsx, type TsxChild } from "../helpers/child-process.js";
import { LOCAL_WAL_MODES, testWalMode, useWalMode } from "../helpers/test-stores.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { CRASH_LOG_OPTIONS, CRASH_STREAMS, MAX_INFLIGHT_APPENDS, SESSION_INFLIGHT_BYTES, crashAppend, type CrashStream } from "./fixtures/crash-workload.js";

const SEED = Number(process.env.STREAM_CRASH_SEED ?? 20_260_713);
const ROUNDS = Number(process.env.STREAM_CRASH_ROUNDS ?? 20);
const WRITER = path.join(REPO_ROOT, "tests/stream/fixtures/stream-writer.ts");

/** What the parent knows of a stream: the body and round of every record, by seqNum. */
type Expected = Record<CrashStream, { body: string; round: string }[]>;

interface ChildReport {
  ready: Record<CrashStream, number> | undefined;
  /** Acks per stream, in the order printed: index, start, end. */
  acks: Record<CrashStream, { index: number; start: number; end: number }[]>;
  metrics: { l0Flushes: number; compactions: number; objectsDeleted: number; walFlushes: number } | undefined;
}

for (const walMode of LOCAL_WAL_MODES) it(`WAL ${walMode}: keeps every acked append, whole and in order, across ${ROUNDS} SIGKILLs of a stream writer (seed ${SEED})`, { timeout: 180_000 }, async () => {
  useWalMode(walMode);
  const root = await makeTempDir("stream-crash");
  const random = seededRandom(SEED);
  const expected: Expected = { alpha: [], beta: [] };
  const totals = { acked: 0, unackedDurable: 0, roundsWithAcks: 0, l0Flushes: 0, compactions: 0, objectsDeleted: 0 };
  let next = spawnTsx(WRITER, [root, String(SEED), "0"]);
  for (let round = 0; round < ROUNDS; round++) {
    const context = `seed ${SEED}, round ${round} (replay: STREAM_CRASH_SEED=${SEED})`;
    const child = next;
    await child.waitForLine((line) => line === "loaded");
    const report = await killAtRandom(child, random, context);
    // Start the next child now: loading its modules overlaps the check below.
    if (round + 1 < ROUNDS) next = spawnTsx(WRITER, [root, String(SEED), String(round + 1)]);
    const outcome = await checkRound({ root, round, report, expected, context });
    totals.acked += outcome.acked;
    totals.unackedDurable += outcome.unackedDurable;
    if (outcome.acked > 0) totals.roundsWithAcks++;
    totals.l0Flushes += report.metrics?.l0Flushes ?? 0;
    totals.compactions += report.metrics?.compactions ?? 0;
    totals.objectsDeleted += report.metrics?.objectsDeleted ?? 0;
  }
  await checkWholeStreams(root, expected);
  console.log(`stream crash test: seed ${SEED}, ${ROUNDS} rounds, ${JSON.stringify(totals)}, records ${expected.alpha.length} + ${expected.beta.length}`);
  // The test must have exercised what it claims to, or a pass means nothing.
  assert.ok(totals.roundsWithAcks >= ROUNDS / 2, `only ${totals.roundsWithAcks} of ${ROUNDS} rounds acked anything`);
  assert.ok(totals.l0Flushes > 0 && totals.compactions > 0 && totals.objectsDeleted > 0, `the children never flushed, compacted and collected: ${JSON.stringify(totals)}`);
});

/** Tells the child to go and SIGKILLs it at a seeded moment; returns what it printed. */
async function killAtRandom(child: TsxChild, random: Random, context: string): Promise<ChildReport> {
  const killDuringOpen = random.int(5) === 0;
  const killAfterMs = killDuringOpen ? random.int(40) : 100 + random.int(400);
  child.send("go");
  await child.waitForLine((line) => line === (killDuringOpen ? "opening" : "ready") || line.startsWith("ready "));
  await delay(killAfterMs);
  const exit = await child.kill();
  const error = child.lines.find((line) => line.startsWith("e "));
  assert.equal(error, undefined, `${context}: the writer reported an error: ${error}\nstderr:\n${child.stderr()}`);
  assert.equal(exit.signal, "SIGKILL", `${context}: the writer exited by itself (${exit.code}); stderr:\n${child.stderr()}`);
  return parseReport(child.lines, context);
}

function parseReport(lines: readonly string[], context: string): ChildReport {
  const report: ChildReport = { ready: undefined, acks: { alpha: [], beta: [] }, metrics: undefined };
  for (const line of lines) {
    const [kind, ...rest] = line.split(" ");
    if (kind === "ready") {
      report.ready = { alpha: Number(rest[0]), beta: Number(rest[1]) };
    } else if (kind === "a") {
      const stream = rest[0] as CrashStream;
      assert.ok(CRASH_STREAMS.includes(stream), `${context}: ack line ${line}`);
      report.acks[stream].push({ index: Number(rest[1]), start: Number(rest[2]), end: Number(rest[3]) });
    } else if (kind === "m") {
      report.metrics = JSON.parse(line.slice(2)) as ChildReport["metrics"];
    }
  }
  return report;
}

/**
 * Reopens the root and checks each stream against the round's appends; extends `expected` with
 * the durable ones and the parent's own check append. Returns counts for the summary.
 */
async function checkRound(input: { root: string; round: number; report: ChildReport; expected: Expected; context: string }): Promise<{ acked: number; unackedDurable: number }> {
  const { root, round, report, expected, context } = input;
  if (report.ready !== undefined) {
    // The child recovered exactly what the previous check left: nothing gained or lost in between.
    for (const stream of CRASH_STREAMS) assert.equal(report.ready[stream], expected[stream].length, `${context}: ${stream} opened at the wrong tail`);
  }
  const log = await openLog({ store: new LocalStore(root), ...CRASH_LOG_OPTIONS, walMode: testWalMode() });
  let acked = 0;
  let unackedDurable = 0;
  try {
    for (const stream of CRASH_STREAMS) {
      const handle = await log.openStream(stream, { createIfMissing: true });
      const counts = await checkStream({ handle, stream, round, acks: report.acks[stream], expected: expected[stream], context: `${context}, ${stream}` });
      acked += counts.acked;
      unackedDurable += counts.unackedDurable;
    }
  } finally {
    await log.close();
  }
  return { acked, unackedDurable };
}

async function checkStream(input: {
  handle: Stream;
  stream: CrashStream;
  round: number;
  acks: ChildReport["acks"][CrashStream];
  expected: Expected[CrashStream];
  context: string;
}): Promise<{ acked: number; unackedDurable: number }> {
  const { handle, stream, round, acks, expected, context } = input;
  const roundStart = expected.length;
  const tail = await handle.checkTail();
  const lastAckedEnd = acks.length === 0 ? roundStart : acks[acks.length - 1]!.end;
  assert.ok(tail.seqNum >= lastAckedEnd, `${context}: checkTail ${tail.seqNum} is before the last acked end ${lastAckedEnd}`);

  // Acks: in order, contiguous, at the positions the workload implies.
  let position = roundStart;
  acks.forEach((ack, i) => {
    assert.equal(ack.index, i, `${context}: acks out of order`);
    const size = crashAppend(SEED, round, stream, i).bodies.length;
    assert.deepEqual([ack.start, ack.end], [position, position + size], `${context}: ack of append ${i}`);
    position += size;
  });

  // The records of this round: whole appends, in order, from roundStart to the tail.
  const records = await readFrom(handle, Math.max(0, roundStart - 3));
  assert.deepEqual(records.slice(0, roundStart - Math.max(0, roundStart - 3)).map((r) => r.body), expected.slice(Math.max(0, roundStart - 3)).map((e) => e.body), `${context}: records before this round changed`);
  const fresh = records.slice(roundStart - Math.max(0, roundStart - 3));
  let durableAppends = 0;
  let offset = 0;
  while (offset < fresh.length) {
    const append = crashAppend(SEED, round, stream, durableAppends);
    assert.ok(durableAppends < acks.length + maxUnacked(stream), `${context}: more durable appends than the child could have had in flight`);
    const got = fresh.slice(offset, offset + append.bodies.length);
    assert.deepEqual(got.map((r) => r.body), append.bodies, `${context}: append ${durableAppends} at ${roundStart + offset} is not whole and in order`);
    for (const r of got) assert.deepEqual(r.headers, [["round", String(round)]], `${context}: headers of record ${r.seqNum}`);
    offset += append.bodies.length;
    durableAppends++;
  }
  assert.ok(durableAppends >= acks.length, `${context}: ${acks.length} appends acked, ${durableAppends} durable`);
  assert.deepEqual(fresh.map((r) => r.seqNum), fresh.map((_, i) => roundStart + i), `${context}: seqNums have a gap or a duplicate`);
  assert.equal(tail.seqNum, roundStart + fresh.length, `${context}: checkTail ${tail.seqNum} is not the end of the durable records`);
  for (const r of fresh) expected.push({ body: r.body, round: String(round) });

  // The next append continues right at the tail.
  const body = `${stream}/check-after-r${round}`;
  const ack = await handle.append([{ body, headers: [["round", "check"]] }]);
  assert.equal(ack.start.seqNum, tail.seqNum, `${context}: the next append does not continue at the tail`);
  expected.push({ body, round: "check" });
  return { acked: acks.length, unackedDurable: durableAppends - acks.length };
}

/**
 * Appends past the last printed ack that can be durable: what the child keeps in flight (alpha
 * counts appends; beta's session counts bytes, and an append is at least 40 metered bytes).
 */
function maxUnacked(stream: CrashStream): number {
  return stream === "alpha" ? MAX_INFLIGHT_APPENDS + 1 : Math.ceil(SESSION_INFLIGHT_BYTES / 40) + 1;
}

interface ReadBack {
  seqNum: number;
  body: string;
  headers: [string, string][];
}

async function readFrom(stream: Stream, seqNum: number): Promise<ReadBack[]> {
  const out: ReadBack[] = [];
  for await (const record of stream.read({ from: { seqNum } })) out.push({ seqNum: record.seqNum, body: recordText(record), headers: headerText(record) });
  return out;
}

/** At the end: every stream, from 0, equals everything the rounds made durable, headers included. */
async function checkWholeStreams(root: string, expected: Expected): Promise<void> {
  const log = await openLog({ store: new LocalStore(root), ...CRASH_LOG_OPTIONS, walMode: testWalMode() });
  try {
    for (const stream of CRASH_STREAMS) {
      const records = await readFrom(await log.openStream(stream), 0);
      assert.deepEqual(records.map((r) => r.seqNum), expected[stream].map((_, i) => i), `${stream}: seqNums of the whole stream`);
      assert.deepEqual(records.map((r) => [r.body, r.headers[0]?.[1]]), expected[stream].map((e) => [e.body, e.round]), `${stream}: the whole stream`);
    }
  } finally {
    await log.close();
  }
}
