/**
 * The mixed-work crash run (see mixed-crash.test.ts for what it checks), shared by the test and
 * scripts/soak.ts. Returns problems as strings instead of throwing, so a soak can count them.
 */
import path from "node:path";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import { LocalStore, openLog, type Log, type ReadRecord } from "../../src/index.js";
import { SST_PREFIX } from "../../src/engine/paths.js";
import { readLatestManifest } from "../../src/engine/manifest-store.js";
import { seededRandom, type Random } from "../../src/util/random.js";
import { REPO_ROOT, delay, spawnTsx, type TsxChild } from "../helpers/child-spawn.js";
import { MIXED_LOG_OPTIONS } from "./fixtures/mixed-options.js";

const WRITER = path.join(REPO_ROOT, "tests/chaos/fixtures/mixed-writer.ts");
const STREAMS = ["keep", "churn"] as const;
/** A child that printed nothing new for this long during a round is hung. */
const CHILD_STALL_MS = 30_000;

export interface MixedCrashResult {
  problems: string[];
  stats: Record<string, number>;
}

/** What the parent knows of a stream after a check: its data records by seqNum, and its tail. */
interface Known {
  exists: boolean;
  records: Map<number, string>;
  tail: number;
}

interface SentOp {
  n: number;
  ack?: { start: number; end: number };
}

interface RoundEvents {
  /** Per stream, per incarnation: ops sent, by index. */
  sent: Map<string, Map<string, SentOp[]>>;
  /** Per stream, the delete/create events in order: d, D, c with their incarnation. */
  lifecycle: Map<string, { kind: "d" | "D" | "c"; inc: string }[]>;
  /** Per stream, the highest trim issued ("T"). */
  trimIssued: Map<string, number>;
  trims: number;
  ready: boolean;
  closed: boolean;
  error: string | undefined;
  metrics: Record<string, number> | undefined;
}

function parseEvents(lines: readonly string[]): RoundEvents {
  const events: RoundEvents = { sent: new Map(), lifecycle: new Map(), trimIssued: new Map(), trims: 0, ready: false, closed: false, error: undefined, metrics: undefined };
  const opsOf = (stream: string, inc: string) => {
    const byInc = events.sent.get(stream) ?? new Map<string, SentOp[]>();
    events.sent.set(stream, byInc);
    const ops = byInc.get(inc) ?? [];
    byInc.set(inc, ops);
    return ops;
  };
  for (const line of lines) {
    const [kind, stream = "", inc = "", a = "", b = "", c = ""] = line.split(" ");
    if (kind === "ready") events.ready = true;
    else if (kind === "closed") events.closed = true;
    else if (kind === "e") events.error ??= line;
    else if (kind === "m") events.metrics = JSON.parse(line.slice(2)) as Record<string, number>;
    else if (kind === "s") opsOf(stream, inc)[Number(a)] = { n: Number(b) };
    else if (kind === "a") opsOf(stream, inc)[Number(a)]!.ack = { start: Number(b), end: Number(c) };
    else if (kind === "T") events.trimIssued.set(stream, Math.max(events.trimIssued.get(stream) ?? 0, Number(a)));
    else if (kind === "t") events.trims++;
    else if (kind === "d" || kind === "D" || kind === "c") {
      const list = events.lifecycle.get(stream) ?? [];
      list.push({ kind, inc });
      events.lifecycle.set(stream, list);
    }
  }
  return events;
}

/** A data record's identity from its body: `<round>/<stream>/<inc>/<op>/<i>of<n>/...`. */
function parseBody(body: string): { inc: string; op: number; i: number; n: number } | undefined {
  const parts = body.split("/");
  if (parts.length < 6) return undefined;
  const [i, n] = parts[4]!.split("of").map(Number);
  return { inc: parts[2]!, op: Number(parts[3]), i: i!, n: n! };
}

const isCommand = (record: ReadRecord) => record.headers.length === 1 && record.headers[0]![0].length === 0;

export async function runMixedCrash(options: { seed: number; rounds: number; root?: string }): Promise<MixedCrashResult> {
  const root = options.root ?? (await mkdtemp(path.join(os.tmpdir(), "durastream-mixed-")));
  const random = seededRandom(options.seed);
  const problems: string[] = [];
  const stats: Record<string, number> = { rounds: 0, kills: 0, killsDuringOpen: 0, closes: 0, ackedAppends: 0, unackedDurable: 0, deletes: 0, trims: 0, l0Flushes: 0, compactions: 0, objectsDeleted: 0, resets: 0 };
  const known = new Map<string, Known>(STREAMS.map((s) => [s, { exists: false, records: new Map(), tail: 0 }]));
  let follower: Follower | undefined;
  let next = spawnTsx(WRITER, [root, String(options.seed), "0", String(closeAfterFor(random, 0))]);
  try {
    for (let round = 0; round < options.rounds && problems.length === 0; round++) {
      const context = `seed ${options.seed}, round ${round}`;
      const child = next;
      const closeMs = Number(child.process.spawnargs.at(-1));
      const lines = await driveRound(child, random, closeMs, stats, context, problems);
      if (round + 1 < options.rounds) next = spawnTsx(WRITER, [root, String(options.seed), String(round + 1), String(closeAfterFor(random, round + 1))]);
      const events = parseEvents(lines);
      if (events.error !== undefined) problems.push(`${context}: the writer failed: ${events.error}`);
      for (const key of ["l0Flushes", "compactions", "objectsDeleted", "resets"]) stats[key]! += events.metrics?.[key] ?? 0;
      stats.trims! += events.trims;
      stats.deletes! += [...events.lifecycle.values()].flat().filter((e) => e.kind === "D").length;
      await checkRound(root, round, events, known, stats, problems, context);
      stats.rounds!++;
      if (follower === undefined && known.get("keep")!.exists) follower = await Follower.start(root);
    }
    if (problems.length === 0) await finalChecks(root, known, follower, stats, problems);
  } finally {
    await next.kill();
    await follower?.stop();
    if (options.root === undefined && problems.length === 0) await rm(root, { recursive: true, force: true });
  }
  if (problems.length > 0) problems.push(`root kept at ${root}`);
  return { problems, stats };
}

/** Every fourth round the child closes by itself after 80-400 ms; otherwise 0 (it runs until killed). */
function closeAfterFor(random: Random, round: number): number {
  return round % 4 === 3 ? 80 + random.int(320) : 0;
}

async function driveRound(child: TsxChild, random: Random, closeMs: number, stats: Record<string, number>, context: string, problems: string[]): Promise<string[]> {
  await child.waitForLine((line) => line === "loaded");
  child.send("go");
  if (closeMs > 0) {
    const exited = await Promise.race([child.exited.then(() => true), delay(CHILD_STALL_MS).then(() => false)]);
    if (!exited) problems.push(`${context}: the child did not close its log within ${CHILD_STALL_MS} ms (a hang)`);
    else if (!child.lines.includes("closed")) problems.push(`${context}: the child exited without closing: ${child.lines.filter((l) => l.startsWith("e ")).join(" ")} ${child.stderr().slice(-1000)}`);
    stats.closes!++;
    await child.kill();
    return child.lines;
  }
  const duringOpen = random.int(6) === 0;
  const waitFor = duringOpen ? "opening" : "ready";
  const reached = await Promise.race([child.waitForLine((line) => line === waitFor).then(() => true, () => false), delay(CHILD_STALL_MS).then(() => false)]);
  if (!reached) problems.push(`${context}: the child never printed "${waitFor}" (a hang, or it died): ${child.lines.slice(-3).join(" | ")} ${child.stderr().slice(-1000)}`);
  if (!duringOpen && reached) {
    // A reopened writer works through a replayed backlog of 4 KiB memtables before it takes
    // writes (the frozen-memtable bound): the kill delay counts from its first ack, so rounds
    // still trim and delete rather than die in the catch-up.
    const acked = await Promise.race([child.waitForLine((line) => line.startsWith("a ")).then(() => true, () => false), delay(CHILD_STALL_MS).then(() => false)]);
    if (!acked) problems.push(`${context}: no append was acknowledged within ${CHILD_STALL_MS} ms of "ready" (a stall): ${child.lines.slice(-3).join(" | ")} ${child.stderr().slice(-1000)}`);
  }
  await delay(duringOpen ? random.int(40) : 100 + random.int(400));
  const exit = await child.kill();
  if (exit.signal !== "SIGKILL") problems.push(`${context}: the child exited by itself (${exit.code}): ${child.stderr().slice(-1000)}`);
  stats.kills!++;
  if (duringOpen) stats.killsDuringOpen!++;
  return child.lines;
}

/** Reopens the root and checks every stream against what the round may have done. */
async function checkRound(root: string, round: number, events: RoundEvents, known: Map<string, Known>, stats: Record<string, number>, problems: string[], context: string): Promise<void> {
  const log = await openLog({ store: new LocalStore(root), ...MIXED_LOG_OPTIONS });
  try {
    for (const name of STREAMS) {
      const before = known.get(name)!;
      const read = await readStream(log, name);
      const lifecycle = events.lifecycle.get(name) ?? [];
      const last = lifecycle.at(-1);
      const ownInc = `${round}.0`;
      // Which incarnations may the stream be in now, and does it continue the old content?
      const allowed: { inc: string; continues: boolean; mayBeAbsent: boolean }[] = [];
      if (last === undefined) allowed.push({ inc: ownInc, continues: true, mayBeAbsent: !before.exists && !events.ready });
      else if (last.kind === "c") allowed.push({ inc: last.inc, continues: false, mayBeAbsent: false });
      else if (last.kind === "D") allowed.push({ inc: `${last.inc}+created`, continues: false, mayBeAbsent: true });
      else allowed.push({ inc: last.inc, continues: last.inc === ownInc, mayBeAbsent: true });
      const state = allowed[0]!;
      const ctx = `${context}, ${name}`;
      if (read === undefined) {
        if (!state.mayBeAbsent) problems.push(`${ctx}: the stream is gone, but nothing deleted it durably (${JSON.stringify(lifecycle)})`);
        known.set(name, { exists: false, records: new Map(), tail: 0 });
        continue;
      }
      const ops = events.sent.get(name)?.get(state.inc.replace("+created", "")) ?? [];
      const effectiveOps = state.inc.endsWith("+created") ? [] : ops;
      const trimTo = events.trimIssued.get(name) ?? 0;
      const counts = checkStreamContent({ read, before, continues: state.continues, ops: effectiveOps, inc: state.inc, trimTo, ctx, problems });
      stats.ackedAppends! += counts.acked;
      stats.unackedDurable! += counts.unackedDurable;
      const records = new Map<number, string>();
      for (const record of read.records) if (!isCommand(record)) records.set(record.seqNum, Buffer.from(record.body).toString());
      known.set(name, { exists: true, records, tail: read.tail });
    }
  } finally {
    await log.close();
  }
}

async function readStream(log: Log, name: string): Promise<{ records: ReadRecord[]; tail: number } | undefined> {
  try {
    const stream = await log.openStream(name);
    const tail = (await stream.checkTail()).seqNum;
    const records: ReadRecord[] = [];
    for await (const record of stream.read({ from: { seqNum: 0 }, clamp: true })) records.push(record);
    return { records, tail };
  } catch (error) {
    if ((error as { code?: unknown }).code === "stream_not_found") return undefined;
    throw error;
  }
}

function checkStreamContent(input: {
  read: { records: ReadRecord[]; tail: number };
  before: Known;
  continues: boolean;
  ops: SentOp[];
  inc: string;
  trimTo: number;
  ctx: string;
  problems: string[];
}): { acked: number; unackedDurable: number } {
  const { read, before, continues, ops, inc, trimTo, ctx, problems } = input;
  const firstVisible = read.records[0]?.seqNum ?? read.tail;
  const oldTail = continues ? before.tail : 0;
  if (read.tail < oldTail) problems.push(`${ctx}: the tail went back from ${oldTail} to ${read.tail}`);
  // Old records: unchanged.
  for (const record of read.records) {
    if (record.seqNum >= oldTail) break;
    const was = before.records.get(record.seqNum);
    const body = Buffer.from(record.body).toString();
    if (!isCommand(record) && was !== body) problems.push(`${ctx}: seqNum ${record.seqNum} changed from ${JSON.stringify(was?.slice(0, 40))} to ${JSON.stringify(body.slice(0, 40))}`);
  }
  // New records: the flattening of ops 0..m-1 of this incarnation, contiguous, whole.
  let expectOp = -1;
  let expectI = 0;
  let lastWhole = true;
  const startOf = new Map<number, number>();
  for (const record of read.records) {
    if (record.seqNum < oldTail || isCommand(record)) continue;
    const body = Buffer.from(record.body).toString();
    const id = parseBody(body);
    if (id === undefined || id.inc !== inc) {
      problems.push(`${ctx}: seqNum ${record.seqNum} holds ${JSON.stringify(body.slice(0, 40))}, not a record of incarnation ${inc}`);
      return { acked: 0, unackedDurable: 0 };
    }
    if (expectOp === -1) {
      // The first new record: op 0 record 0, or later only if a trim issued removed what is missing.
      const trimmedAway = firstVisible >= oldTail && firstVisible <= trimTo;
      if ((id.op !== 0 || id.i !== 0) && !trimmedAway) {
        problems.push(`${ctx}: the round's records start at op ${id.op} record ${id.i} (seqNum ${record.seqNum}); first visible ${firstVisible}, trims issued to ${trimTo}`);
      }
      expectOp = id.op;
      expectI = id.i;
    }
    if (id.op !== expectOp || id.i !== expectI) {
      problems.push(`${ctx}: seqNum ${record.seqNum} is op ${id.op} record ${id.i}, expected op ${expectOp} record ${expectI} (a gap, a duplicate or a reordering)`);
      return { acked: 0, unackedDurable: 0 };
    }
    if (id.i === 0) startOf.set(id.op, record.seqNum);
    lastWhole = id.i === id.n - 1;
    if (lastWhole) {
      expectOp++;
      expectI = 0;
    } else {
      expectI++;
    }
  }
  if (!lastWhole) problems.push(`${ctx}: the last append is cut short (op ${expectOp} stops at record ${expectI})`);
  let acked = 0;
  let unackedDurable = 0;
  ops.forEach((op, index) => {
    if (op === undefined) return;
    const start = startOf.get(index);
    if (op.ack !== undefined) {
      acked++;
      if (start !== undefined && start !== op.ack.start) problems.push(`${ctx}: op ${index} acknowledged at ${op.ack.start} is at ${start}`);
      const trimmed = op.ack.start < firstVisible && op.ack.start < trimTo;
      if (start === undefined && !trimmed) problems.push(`${ctx}: ACKNOWLEDGED op ${index} (${op.ack.start}..${op.ack.end}) is missing (first visible ${firstVisible}, trims issued to ${trimTo})`);
    } else if (start !== undefined) {
      unackedDurable++;
    }
  });
  return { acked, unackedDurable };
}

/** A read-only log in this process following "keep" across every crash of the writer. */
class Follower {
  readonly records: { seqNum: number; body: string }[] = [];
  error: unknown;
  readonly #controller = new AbortController();
  #done: Promise<void> = Promise.resolve();
  #log: Log | undefined;

  static async start(root: string): Promise<Follower> {
    const follower = new Follower();
    const log = await openLog({ store: new LocalStore(root), readOnly: true, pollIntervalMs: 10 });
    follower.#log = log;
    follower.#done = follower.#follow(log);
    return follower;
  }

  async #follow(log: Log): Promise<void> {
    let from = 0;
    for (let restarts = 0; restarts < 1000 && !this.#controller.signal.aborted; restarts++) {
      try {
        const stream = await log.openStream("keep");
        for await (const record of stream.read({ from: { seqNum: from }, follow: true, signal: this.#controller.signal })) {
          this.records.push({ seqNum: record.seqNum, body: Buffer.from(record.body).toString() });
          from = record.seqNum + 1;
        }
      } catch (error) {
        if (this.#controller.signal.aborted) return;
        if ((error as { code?: unknown }).code !== "storage") {
          this.error = error;
          return;
        }
        await delay(20);
      }
    }
  }

  async stop(): Promise<void> {
    this.#controller.abort();
    await this.#done;
    await this.#log?.close();
  }
}

async function finalChecks(root: string, known: Map<string, Known>, follower: Follower | undefined, stats: Record<string, number>, problems: string[]): Promise<void> {
  // The follower must reach the stored tail of "keep" and have seen exactly what is stored.
  const keep = known.get("keep")!;
  if (follower !== undefined) {
    for (let waited = 0; waited < 20_000 && (follower.records.at(-1)?.seqNum ?? -1) < keep.tail - 1 && follower.error === undefined; waited += 50) await delay(50);
    if (follower.error !== undefined) problems.push(`the follower failed: ${String((follower.error as Error).message ?? follower.error)}`);
    follower.records.forEach((record, index) => {
      if (record.seqNum !== index) problems.push(`the follower saw seqNum ${record.seqNum} at position ${index} (a gap or a repeat)`);
      else if (keep.records.get(record.seqNum) !== record.body) problems.push(`the follower saw ${JSON.stringify(record.body.slice(0, 40))} at ${record.seqNum}; the stream holds ${JSON.stringify(keep.records.get(record.seqNum)?.slice(0, 40))}`);
    });
    if ((follower.records.at(-1)?.seqNum ?? -1) < keep.tail - 1) problems.push(`the follower stopped at ${follower.records.at(-1)?.seqNum} of ${keep.tail}`);
    stats.followed = follower.records.length;
  }
  // The log is not wedged: it still flushes and compacts without resetting.
  const log = await openLog({ store: new LocalStore(root), ...MIXED_LOG_OPTIONS });
  try {
    const stream = await log.openStream("keep");
    for (let i = 0; i < 40; i++) await stream.append(Array.from({ length: 4 }, () => ({ body: "y".repeat(300) })));
    // L0 flushes run in the background after the acks: on the segment WAL the appends can all be
    // acknowledged before the first one is published, and a reopened writer first works through
    // the replayed backlog (hundreds of 4 KiB memtables, compactions first when L0 is full): give
    // it a bounded while.
    for (let waitedMs = 0; waitedMs < 30_000 && log.metrics().engine.l0Flushes === 0; waitedMs += 50) await delay(50);
    const m = log.metrics().engine;
    if (m.resets > 0) problems.push(`the final writer reset ${m.resets} times (a wedge: ${String(log.health().reason)})`);
    if (m.l0Flushes === 0) problems.push("the final writer never flushed an L0");
  } finally {
    await log.close();
  }
  const store = new LocalStore(root);
  const manifest = (await readLatestManifest(store))?.manifest;
  const referenced = new Set([...(manifest?.l0 ?? []), ...(manifest?.runs ?? []).flatMap((run) => run.ssts)].map((h) => h.id));
  let unreferenced = 0;
  for await (const entry of store.list(SST_PREFIX)) if (!referenced.has(Number(entry.key.slice(SST_PREFIX.length)))) unreferenced++;
  stats.unreferencedSstsAtEnd = unreferenced;
}
