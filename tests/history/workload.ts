/**
 * The history workload: concurrent appenders (plain and pipelined, `matchSeqNum`, fencing
 * tokens, an idempotent producer), readers, followers and `checkTail` pollers on a few streams,
 * on a FaultyStore with latency, lost responses, cuts and outages longer than the retry
 * deadline, with tiny SSTs so that flushes, compactions and GC run all the time. Everything is
 * recorded in a History (history.ts) and checked against each stream's final content, read from
 * a fresh open of the store without faults.
 *
 * Used by tests/history/history.test.ts (through fixtures/history-child.ts, so that a hang is
 * caught by the parent's timer) and by scripts/soak.ts. Runs on the real clock: the interleaving
 * varies from run to run, but the fault schedule and the operations come from the seed.
 */
import { FaultyStore } from "../../src/store/faulty-store.js";
import type { ObjectStore } from "../../src/store/object-store.js";
import { seededRandom, type Random } from "../../src/util/random.js";
import { fenceRecord, openLog, SeqNumMismatchError, type Log, type LogOptions, type Stream } from "../../src/index.js";
import { checkHistory, codeOf, History, seenRecord, type FinalStream } from "./history.js";

export interface HistoryRunOptions {
  seed: number;
  /** How long the actors run (real time). */
  durationMs: number;
  /** The store under the FaultyStore (MemoryStore, LocalStore or S3Store). */
  store: ObjectStore;
  /** Inject faults (cuts, outages, lost responses). Default true. */
  faults?: boolean;
  /** Scale of store latency in ms (median of a PUT). Default 2. */
  latencyMs?: number;
  /** How long everything may take to settle after the run before it counts as a hang. */
  settleMs?: number;
}

export interface HistoryRunResult {
  seed: number;
  problems: string[];
  stats: Record<string, number>;
}

/** Engine settings that keep flushes, compactions and GC busy. */
export const CHAOS_LOG_OPTIONS: Partial<LogOptions> = Object.freeze({
  flushIntervalMs: 2,
  l0SstBytes: 4096,
  maxSstBytes: 4096,
  storeRetryDeadlineMs: 250,
  gcIntervalMs: 40,
  gcGraceMs: 50,
});

const STREAMS = ["plain", "fenced", "producer"] as const;
const PIPELINE_DEPTH = 4;
/** A run goes on past its duration (up to three times it) until the engine compacted this often. */
const MIN_COMPACTIONS = 1;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface Run {
  history: History;
  random: Random;
  log: Log;
  streams: Map<string, Stream>;
  stopped: boolean;
  stats: Record<string, number>;
  /** Producer: the attempt ids of each logical message. */
  producerMessages: number[][];
}

function bump(stats: Record<string, number>, key: string, by = 1): void {
  stats[key] = (stats[key] ?? 0) + by;
}

const pick = (random: Random, n: number) => Math.floor(random.next() * n);

/** Runs the workload once and checks its history. Never throws for a problem: returns them. */
export async function runHistory(options: HistoryRunOptions): Promise<HistoryRunResult> {
  const random = seededRandom(options.seed);
  const latencyMs = options.latencyMs ?? 2;
  const faulty = new FaultyStore(options.store, {
    random: seededRandom(options.seed + 1),
    latency: {
      put: { medianMs: latencyMs, p99Ms: latencyMs * 6 },
      get: { medianMs: latencyMs / 2, p99Ms: latencyMs * 4 },
      list: { medianMs: latencyMs, p99Ms: latencyMs * 5 },
      delete: { fixedMs: Math.max(1, latencyMs / 2) },
      head: { fixedMs: Math.max(1, latencyMs / 2) },
    },
  });
  const log = await openLog({ ...CHAOS_LOG_OPTIONS, store: faulty });
  const streams = new Map<string, Stream>();
  for (const name of STREAMS) streams.set(name, await log.openStream(name, { createIfMissing: true }));
  const run: Run = { history: new History(), random, log, streams, stopped: false, stats: {}, producerMessages: [] };
  const problems: string[] = [];
  const guarded = (name: string, actor: Promise<void>) =>
    actor.catch((error: unknown) => {
      problems.push(`actor ${name} threw (a workload bug, or an error no caller should see): ${codeOf(error)} ${String((error as Error)?.message ?? error)}`);
    });
  const actors = [
    appender(run, "plain", "a1", 1),
    appender(run, "plain", "a2", PIPELINE_DEPTH),
    appender(run, "fenced", "a3", 2),
    fencer(run, "fenced", "f1"),
    tokenAppender(run, "fenced", "t1"),
    matcher(run, "plain", "m1"),
    producer(run, "producer", "p1"),
    ...STREAMS.map((name, i) => reader(run, name, `r${i}`)),
    ...STREAMS.map((name, i) => follower(run, name, `fo${i}`)),
    ...STREAMS.map((name, i) => tailPoller(run, name, `tp${i}`)),
    tailPoller(run, "plain", "tpx"),
  ].map((actor, i) => guarded(String(i), actor));
  const faultLoop = options.faults === false ? Promise.resolve() : faults(run, faulty);
  await sleep(options.durationMs);
  // On a loaded machine, run on (up to 3x) until the engine compacted at least once.
  for (let extraMs = 0; extraMs < 2 * options.durationMs && log.metrics().engine.compactions < MIN_COMPACTIONS; extraMs += 100) await sleep(100);
  run.stopped = true;
  faulty.heal();
  faulty.clearFaults();
  const settled = await Promise.race([Promise.all([...actors, faultLoop]).then(() => true), sleep(options.settleMs ?? 20_000).then(() => false)]);
  if (!settled) problems.push(`the actors did not settle within ${options.settleMs ?? 20_000} ms of the end of the run (a hang)`);
  const health = log.health();
  if (health.status === "closed") problems.push(`the log closed by itself during the run: ${health.reason ?? "no reason"}`);
  const engine = log.metrics().engine;
  Object.assign(run.stats, { l0Flushes: engine.l0Flushes, compactions: engine.compactions, objectsDeleted: engine.objectsDeleted, resets: engine.resets, walFlushes: engine.walFlushes });
  const closed = await Promise.race([log.close().then(() => true, () => true), sleep(10_000).then(() => false)]);
  if (!closed) problems.push("log.close() did not finish within 10 s");
  const finals = await readFinals(options.store, STREAMS, problems);
  problems.push(...checkHistory(run.history, finals), ...checkProducer(run, finals.get("producer")!));
  const counters = faulty.counters();
  bump(run.stats, "storeCalls", Object.values(counters.calls).reduce((a, b) => a + b, 0));
  bump(run.stats, "injectedFailures", Object.values(counters.failures).reduce((a, b) => a + b, 0));
  bump(run.stats, "operations", run.history.ops.length);
  bump(run.stats, "finalRecords", [...finals.values()].reduce((sum, f) => sum + f.records.length, 0));
  return { seed: options.seed, problems, stats: run.stats };
}

/** Each stream's records from a fresh open without faults; its tail must match them (no trims here). */
async function readFinals(store: ObjectStore, names: readonly string[], problems: string[]): Promise<Map<string, FinalStream>> {
  const log = await openLog({ store, flushIntervalMs: 0 });
  try {
    const finals = new Map<string, FinalStream>();
    for (const name of names) {
      const stream = await log.openStream(name);
      const records = [];
      for await (const record of stream.read({ from: { seqNum: 0 } })) records.push(seenRecord(record));
      const tail = (await stream.checkTail()).seqNum;
      if (tail !== records.length) problems.push(`${name}: after the run, checkTail says ${tail} but the stream holds ${records.length} records`);
      finals.set(name, { records });
    }
    return finals;
  } finally {
    await log.close();
  }
}

/** Plain appends of 1-5 records, `depth` in flight at once. */
async function appender(run: Run, name: string, actor: string, depth: number): Promise<void> {
  const stream = run.streams.get(name)!;
  const inflight = new Set<Promise<void>>();
  while (!run.stopped) {
    const op = run.history.beginAppend(name, actor, 1 + pick(run.random, 5));
    const done = stream.append(op.bodies.map((body) => ({ body }))).then(
      (ack) => run.history.endAppend(op, { ack }),
      (error: unknown) => run.history.endAppend(op, { error }),
    );
    inflight.add(done);
    void done.then(() => inflight.delete(done));
    bump(run.stats, "appends");
    if (inflight.size >= depth) await Promise.race(inflight);
    if (pick(run.random, 4) === 0) await sleep(pick(run.random, 5));
  }
  await Promise.all(inflight);
}

/** Appends with `matchSeqNum` from its last view of the tail (often wrong: others append too). */
async function matcher(run: Run, name: string, actor: string): Promise<void> {
  const stream = run.streams.get(name)!;
  let next = 0;
  while (!run.stopped) {
    const op = run.history.beginAppend(name, actor, 1 + pick(run.random, 3), { matchSeqNum: next });
    try {
      const ack = await stream.append(op.bodies.map((body) => ({ body })), { matchSeqNum: next });
      run.history.endAppend(op, { ack });
      next = ack.end.seqNum;
    } catch (error) {
      run.history.endAppend(op, { error });
      if (error instanceof SeqNumMismatchError) next = error.expectedSeqNum;
      else await sleep(5);
    }
    bump(run.stats, "matchAppends");
    await sleep(pick(run.random, 10));
  }
}

/** The idempotent producer: the only writer of its stream; retries each message with the same matchSeqNum until it is known to be in. */
async function producer(run: Run, name: string, actor: string): Promise<void> {
  const stream = run.streams.get(name)!;
  let next = 0;
  while (!run.stopped) {
    const size = 1 + pick(run.random, 3);
    const attempts: number[] = [];
    run.producerMessages.push(attempts);
    // Retries until the message is known to be in (never gives up on it while the run lasts:
    // moving on with an attempt of unknown outcome outstanding would break its own sequence).
    while (!run.stopped) {
      const op = run.history.beginAppend(name, actor, size, { matchSeqNum: next });
      attempts.push(op.id);
      try {
        const ack = await stream.append(op.bodies.map((body) => ({ body })), { matchSeqNum: next });
        run.history.endAppend(op, { ack });
        next = ack.end.seqNum;
        break;
      } catch (error) {
        run.history.endAppend(op, { error });
        bump(run.stats, "producerRetries");
        if (error instanceof SeqNumMismatchError && error.expectedSeqNum === next + size) {
          next = error.expectedSeqNum; // an earlier attempt landed
          break;
        }
        if (error instanceof SeqNumMismatchError) {
          const tried = attempts.map((id) => run.history.ops.find((o) => o.id === id)).map((o) => (o?.kind === "append" ? `#${o.id} ${o.result?.ok === true ? `acked ${o.result.ack.start.seqNum}` : `${o.result?.ok === false ? `${o.result.code}/${o.result.outcome}` : "pending"}`}` : "?"));
          throw new Error(`producer: the stream moved to ${error.expectedSeqNum} from ${next} without message ${run.producerMessages.length - 1} of ${size} records (attempts: ${tried.join(", ")})`);
        }
        await sleep(10);
      }
    }
    bump(run.stats, "producerMessages");
  }
}

/** Exactly one attempt of each logical message of the producer is in its stream. */
function checkProducer(run: Run, final: FinalStream): string[] {
  const present = new Set(final.records.map((record) => Number(record.body.split(".")[0])));
  const problems: string[] = [];
  run.producerMessages.forEach((attempts, i) => {
    const landed = attempts.filter((id) => present.has(id));
    const last = run.history.ops.find((op) => op.id === attempts.at(-1));
    const settled = last?.kind === "append" && last.result !== undefined && (last.result.ok || last.result.code === "seq_num_mismatch");
    if (landed.length > 1) problems.push(`idempotent producer: message ${i} is in the stream ${landed.length} times (attempts ${landed.join(", ")})`);
    if (landed.length === 0 && settled) {
      const firstAttempt = run.history.ops.find((op) => op.id === attempts[0]);
      const at = firstAttempt?.kind === "append" ? (firstAttempt.matchSeqNum ?? 0) : 0;
      const around = final.records.slice(Math.max(0, at - 3), at + 6).map((r) => `${r.seqNum}:${r.body}`);
      problems.push(`idempotent producer: message ${i} (at ${at}) was settled as written but is not in the stream (attempts ${attempts.join(", ")}); the stream there: ${around.join(" ")}`);
    }
  });
  return problems;
}

let tokenCounter = 0;

/** Sets a new fencing token now and then, conditioned on the one it believes is current. */
async function fencer(run: Run, name: string, actor: string): Promise<void> {
  const stream = run.streams.get(name)!;
  let believed = "";
  while (!run.stopped) {
    await sleep(20 + pick(run.random, 60));
    const token = `tok-${++tokenCounter}`;
    const op = run.history.beginFence(name, actor, token, { fencingToken: believed });
    try {
      const ack = await stream.append([fenceRecord(token)], { fencingToken: believed });
      run.history.endAppend(op, { ack });
      believed = token;
    } catch (error) {
      run.history.endAppend(op, { error });
      if (codeOf(error) !== "fencing_token_mismatch") continue;
      believed = (await currentToken(stream, 0)) ?? believed;
    }
    bump(run.stats, "fences");
  }
}

/** The token of the newest fence record, "" when there is none; undefined when the read failed (faults). */
async function currentToken(stream: Stream, fromSeqNum: number): Promise<string | undefined> {
  let token = "";
  try {
    for await (const record of stream.read({ from: { seqNum: fromSeqNum } })) {
      if (record.headers.length === 1 && record.headers[0]![0].length === 0 && Buffer.from(record.headers[0]![1]).toString() === "fence") {
        token = Buffer.from(record.body).toString();
      }
    }
    return token;
  } catch {
    return undefined;
  }
}

/** Appends with the fencing token it last saw in a fence record (often stale). */
async function tokenAppender(run: Run, name: string, actor: string): Promise<void> {
  const stream = run.streams.get(name)!;
  let believed = "";
  while (!run.stopped) {
    const op = run.history.beginAppend(name, actor, 1 + pick(run.random, 2), { fencingToken: believed });
    try {
      const ack = await stream.append(op.bodies.map((body) => ({ body })), { fencingToken: believed });
      run.history.endAppend(op, { ack });
    } catch (error) {
      run.history.endAppend(op, { error });
      if (codeOf(error) === "fencing_token_mismatch") {
        believed = (await currentToken(stream, 0)) ?? believed;
      } else {
        await sleep(5);
      }
    }
    bump(run.stats, "tokenAppends");
    await sleep(pick(run.random, 10));
  }
}

/** Reads from a random position: to the tail, or a few records. */
async function reader(run: Run, name: string, actor: string): Promise<void> {
  const stream = run.streams.get(name)!;
  let tail = 0;
  while (!run.stopped) {
    const from = pick(run.random, tail + 1);
    const limited = pick(run.random, 3) === 0;
    const op = run.history.beginRead(name, actor, from, !limited, false);
    try {
      for await (const record of stream.read({ from: { seqNum: from }, clamp: true, ...(limited ? { limit: { count: 1 + pick(run.random, 20) } } : {}) })) {
        op.records.push(seenRecord(record));
      }
      run.history.endRead(op);
      tail = Math.max(tail, op.records.at(-1)?.seqNum ?? 0);
    } catch (error) {
      run.history.endRead(op, error);
      await sleep(5);
    }
    bump(run.stats, "reads");
    await sleep(pick(run.random, 15));
  }
}

/** Follows the stream from 0; after an error, follows again from where it was. */
async function follower(run: Run, name: string, actor: string): Promise<void> {
  const stream = run.streams.get(name)!;
  let from = 0;
  while (!run.stopped) {
    const controller = new AbortController();
    const op = run.history.beginRead(name, actor, from, false, true);
    const stop = setInterval(() => {
      if (run.stopped) controller.abort();
    }, 20);
    try {
      for await (const record of stream.read({ from: { seqNum: from }, follow: true, signal: controller.signal })) {
        op.records.push(seenRecord(record));
        from = record.seqNum + 1;
      }
      run.history.endRead(op);
    } catch (error) {
      run.history.endRead(op, error);
      if (codeOf(error) !== "aborted") bump(run.stats, "followerRestarts");
      await sleep(10);
    } finally {
      clearInterval(stop);
    }
    bump(run.stats, "followedRecords", op.records.length);
  }
}

async function tailPoller(run: Run, name: string, actor: string): Promise<void> {
  const stream = run.streams.get(name)!;
  while (!run.stopped) {
    const op = run.history.beginTail(name, actor);
    try {
      run.history.endTail(op, { tail: (await stream.checkTail()).seqNum });
    } catch (error) {
      run.history.endTail(op, { error });
      await sleep(5);
    }
    bump(run.stats, "tailChecks");
    await sleep(pick(run.random, 10));
  }
}

/** The fault schedule: cuts (some longer than the retry deadline), lost responses, failed calls. */
async function faults(run: Run, faulty: FaultyStore): Promise<void> {
  const deadlineMs = CHAOS_LOG_OPTIONS.storeRetryDeadlineMs!;
  while (!run.stopped) {
    await sleep(80 + pick(run.random, 200));
    if (run.stopped) break;
    const roll = pick(run.random, 10);
    if (roll < 3) {
      const outage = pick(run.random, 3) === 0;
      const ms = outage ? deadlineMs + 100 + pick(run.random, 800) : 5 + pick(run.random, deadlineMs / 2);
      faulty.cut();
      bump(run.stats, outage ? "outages" : "cuts");
      await sleep(ms);
      faulty.heal();
    } else if (roll < 7) {
      const prefix = ["wal/", "sst/", "manifest/"][pick(run.random, 3)]!;
      faulty.addFault({ effect: "lose_response", when: (call) => call.kind === "put" && call.key.startsWith(prefix), skip: pick(run.random, 3) });
      bump(run.stats, "lostResponses");
    } else {
      const kind = (["get", "list", "delete", "put"] as const)[pick(run.random, 4)]!;
      faulty.addFault({ effect: "fail", when: (call) => call.kind === kind, times: 1 + pick(run.random, 3) });
      bump(run.stats, "failedCalls");
    }
  }
}
