/**
 * Model-based randomized test of the whole stream API (fast-check, seeded): random appends to
 * 1-3 streams (with and without matchSeqNum, right or wrong; fencing tokens; fence and trim
 * command records; client timestamps; invalid input), append sessions, reads (from a seqNum, a
 * timestamp or a tail offset; clamp, limits, until), live followers, FaultyStore faults (refused
 * PUTs, lost responses, outages longer than storeRetryDeadlineMs) and reopenings (clean, and
 * "crash": abandon the Log after cutting its FaultyStore wrapper and open a new Log on a new
 * wrapper over the same MemoryStore), all on a ManualClock, checked against the simple model in
 * fixtures/stream-model.ts.
 *
 * Invariants checked:
 *   - an acked append is present with the seqNums, timestamps, bodies and headers of its ack;
 *   - seqNums have no gap and no duplicate (the model's positions are dense, and every check
 *     compares whole streams);
 *   - an append that failed with outcome "unknown" is wholly present or wholly absent, the
 *     durable ones form a prefix in sequencing order, and the next append continues right after;
 *   - an append that failed as known not applied (validation, condition mismatch, a storage
 *     refusal while the log reopens) is never present;
 *   - reads never return trimmed records, and return exactly what the model says;
 *   - checkTail equals the model's tail.
 *
 * Reproduce a failure: DURASTREAM_SEED=<seed> bash scripts/run-tests.sh tests/stream/stream-model.test.ts
 * (the seed is printed; DURASTREAM_RUNS=<n> changes the number of runs).
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import fc from "fast-check";
import {
  FaultyStore,
  ManualClock,
  MemoryStore,
  StorageError,
  fenceRecord,
  openLog,
  trimRecord,
  type AppendAck,
  type AppendOptions,
  type AppendRecord,
  type AppendSession,
  type Log,
  type ReadSession,
  type Stream,
  type StreamConfigPatch,
  type Timestamping,
} from "../../src/index.js";
import { drive, driveUntil } from "./fixtures/drive.js";
import {
  ModelStream,
  durablePrefix,
  expectedRead,
  predictAppend,
  readRecordModel,
  type Accepted,
  type ModelCommand,
  type ModelRead,
  type ModelRecord,
  type Prediction,
  type RecordInput,
} from "./fixtures/stream-model.js";

// ---------------------------------------------------------------------------------------------
// Commands

interface RecordSpec {
  tsOffsetMs: number | null;
  headers: number;
  bodyBytes: number;
}
type CommandSpec = null | { kind: "fence"; token: string } | { kind: "trim"; back: number };
type InvalidKind = "empty" | "emptyHeaderName" | "longToken" | "badMatch" | "unknownCommand";
interface AppendSpec {
  stream: number;
  records: RecordSpec[];
  command: CommandSpec;
  commandAt: number;
  match: "none" | "right" | "wrong";
  token: "none" | "right" | "wrong";
  wrongBy: number;
  invalid: InvalidKind | null;
}
interface ReadSpec {
  stream: number;
  from: "seq" | "ts" | "offset" | "tsPastTail";
  n: number;
  delta: number;
  clamp: boolean;
  count: number | null;
  bytes: number | null;
  until: null | { n: number; delta: number };
}
type Command =
  | { t: "appends"; items: AppendSpec[]; follow: boolean; readWhilePending: boolean }
  | { t: "session"; stream: number; items: AppendSpec[] }
  | { t: "read"; spec: ReadSpec }
  | { t: "check" }
  | { t: "time"; ms: number }
  | { t: "fault"; kind: "refuse" | "lose"; times: number }
  | { t: "outage"; kind: "before" | "inflight" | "lost"; items: AppendSpec[]; during: AppendSpec[] }
  | { t: "reopen"; crash: boolean; items: AppendSpec[]; advanceMs: number };

const recordSpecArb: fc.Arbitrary<RecordSpec> = fc.record({
  tsOffsetMs: fc.option(fc.integer({ min: -3000, max: 3000 }), { freq: 5 }),
  headers: fc.nat(2),
  bodyBytes: fc.nat(40),
});

const appendSpecArb = (valid: boolean): fc.Arbitrary<AppendSpec> =>
  fc.record({
    stream: fc.nat(2),
    records: fc.array(recordSpecArb, { minLength: 1, maxLength: 4 }),
    command: fc.oneof(
      { weight: 8, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("fence" as const), token: fc.constantFrom("", "t1", "t2", "ζ-3") }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("trim" as const), back: fc.integer({ min: -2, max: 8 }) }) },
    ),
    commandAt: fc.nat(4),
    match: fc.constantFrom("none" as const, "none" as const, "none" as const, "right" as const, "right" as const, "wrong" as const),
    token: fc.constantFrom("none" as const, "none" as const, "none" as const, "none" as const, "none" as const, "right" as const, "wrong" as const),
    wrongBy: fc.nat(5),
    invalid: valid
      ? fc.constant(null)
      : fc.oneof({ weight: 15, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom<InvalidKind>("empty", "emptyHeaderName", "longToken", "badMatch", "unknownCommand") }),
  });

const readSpecArb: fc.Arbitrary<ReadSpec> = fc.record({
  stream: fc.nat(2),
  from: fc.constantFrom("seq" as const, "ts" as const, "offset" as const, "tsPastTail" as const),
  n: fc.nat(40),
  delta: fc.integer({ min: -1, max: 1 }),
  clamp: fc.boolean(),
  count: fc.option(fc.nat(8), { freq: 2 }),
  bytes: fc.option(fc.nat(300), { freq: 3 }),
  until: fc.option(fc.record({ n: fc.nat(40), delta: fc.integer({ min: -1, max: 1 }) }), { freq: 3 }),
});

const appendsArb = (min: number, max: number) => fc.array(appendSpecArb(false), { minLength: min, maxLength: max });

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ t: fc.constant("appends" as const), items: appendsArb(1, 6), follow: fc.boolean(), readWhilePending: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("session" as const), stream: fc.nat(2), items: fc.array(appendSpecArb(true), { minLength: 1, maxLength: 5 }) }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant("read" as const), spec: readSpecArb }) },
  { weight: 1, arbitrary: fc.constant({ t: "check" as const }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("time" as const), ms: fc.integer({ min: 1, max: 5000 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("fault" as const), kind: fc.constantFrom("refuse" as const, "lose" as const), times: fc.integer({ min: 1, max: 3 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant("outage" as const), kind: fc.constantFrom("before" as const, "inflight" as const, "lost" as const), items: appendsArb(0, 4), during: appendsArb(0, 3) }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("reopen" as const), crash: fc.boolean(), items: appendsArb(0, 6), advanceMs: fc.nat(12) }) },
);

// ---------------------------------------------------------------------------------------------
// Streams and options

const STREAMS: { name: string; config: StreamConfigPatch; timestamping: Timestamping }[] = [
  { name: "s0", config: {}, timestamping: { mode: "client-prefer", uncapped: false } },
  { name: "s1", config: { timestamping: { mode: "arrival" } }, timestamping: { mode: "arrival", uncapped: false } },
  { name: "s2", config: { retention: "infinite", timestamping: { mode: "client-require", uncapped: true } }, timestamping: { mode: "client-require", uncapped: true } },
];

/** Small sizes so memtable flushes, compactions (with the trim filter) and GC run within a run. */
// takeover: a reopening after a simulated crash leaves the old Log open, as a crashed process would not.
const LOG_OPTIONS = { flushIntervalMs: 0, storeRetryDeadlineMs: 1000, l0SstBytes: 2048, gcIntervalMs: 0, gcGraceMs: 0, takeover: true } as const;
const START_MS = 1_767_225_600_000;

// ---------------------------------------------------------------------------------------------
// Outcomes of appends

type Outcome = { state: "pending" } | { state: "acked"; ack: AppendAck } | { state: "failed"; code: string; outcome: string | undefined; message: string };

interface Issued {
  label: string;
  stream: number;
  /** "invalid": the call itself must fail with a validation error. */
  prediction: Prediction | "invalid";
  result: { outcome: Outcome };
}

function track(promise: Promise<AppendAck>): { outcome: Outcome } {
  const result: { outcome: Outcome } = { outcome: { state: "pending" } };
  promise.then(
    (ack) => (result.outcome = { state: "acked", ack }),
    (error: { code?: string; outcome?: string; message?: string }) =>
      (result.outcome = { state: "failed", code: String(error.code), outcome: error.outcome, message: String(error.message) }),
  );
  return result;
}

const settled = (issued: readonly Issued[]) => issued.every((x) => x.result.outcome.state !== "pending");
const show = (x: Issued) => `${x.label} on s${x.stream}: predicted ${JSON.stringify(x.prediction === "invalid" ? "invalid" : x.prediction.ok ? { start: x.prediction.start, end: x.prediction.end } : x.prediction)}, got ${JSON.stringify(x.result.outcome)}`;

/** The outcome must be exactly the prediction (no fault was active). */
function expectExact(x: Issued): void {
  const got = x.result.outcome;
  if (x.prediction === "invalid") {
    assert.ok(got.state === "failed" && got.code === "validation" && got.outcome === "not_applied", show(x));
  } else if (x.prediction.ok) {
    assert.ok(got.state === "acked", show(x));
    assertAckMatches(got.ack, x.prediction, x);
  } else {
    assert.ok(got.state === "failed" && got.code === x.prediction.code && got.outcome === "not_applied", show(x));
  }
}

/** The outcome may be the prediction or a storage failure (a fault was active). */
function expectPredictionOrStorage(x: Issued): void {
  const got = x.result.outcome;
  if (got.state === "failed" && (got.code === "storage" || got.code === "closed")) return;
  expectExact(x);
}

function assertAckMatches(ack: AppendAck, prediction: Accepted, x: Issued): void {
  assert.deepEqual(ack.start, prediction.start, `${show(x)}: ack start`);
  assert.deepEqual(ack.end, prediction.end, `${show(x)}: ack end`);
  assert.ok(ack.tail.seqNum >= ack.end.seqNum, `${show(x)}: ack tail before its end`);
}

// ---------------------------------------------------------------------------------------------
// Coverage: what the runs exercised (printed, and checked at the end so that a pass means something)

const stats = {
  acked: 0,
  conditionFailures: 0,
  validationFailures: 0,
  unknownDurable: 0,
  unknownLost: 0,
  notAppliedInOutage: 0,
  followedRecords: 0,
  readRecords: 0,
  readErrors: 0,
  trimmedHidden: 0,
  crashes: 0,
  cleanReopens: 0,
  outages: 0,
  l0Flushes: 0,
  compactions: 0,
  pendingReads: 0,
};

function count(x: Issued): void {
  const got = x.result.outcome;
  if (got.state === "acked") stats.acked++;
  else if (got.state === "failed" && got.code === "validation") stats.validationFailures++;
  else if (got.state === "failed" && (got.code === "seq_num_mismatch" || got.code === "fencing_token_mismatch")) stats.conditionFailures++;
}

// ---------------------------------------------------------------------------------------------
// The harness: one MemoryStore, a Log on a FaultyStore wrapper, the model

class Harness {
  readonly clock = new ManualClock({ startMs: START_MS });
  readonly memory = new MemoryStore();
  faulty!: FaultyStore;
  log!: Log;
  streams: Stream[] = [];
  models: ModelStream[];
  #tags = 0;

  constructor(readonly streamCount: number) {
    this.models = STREAMS.slice(0, streamCount).map((s) => new ModelStream(s.name, s.timestamping));
  }

  async open(): Promise<void> {
    this.faulty = new FaultyStore(this.memory, { clock: this.clock });
    this.log = await drive(this.clock, openLog({ store: this.faulty, clock: this.clock, ...LOG_OPTIONS }), "openLog");
    this.streams = [];
    for (const { name, config } of STREAMS.slice(0, this.streamCount)) {
      const stream = await drive(this.clock, this.log.openStream(name, { createIfMissing: true, config }), "openStream");
      // Load the streamer now: a reset then finds it, as it would in a service that appends.
      await drive(this.clock, stream.checkTail(), "checkTail");
      this.streams.push(stream);
    }
  }

  async close(): Promise<void> {
    this.#countEngineWork();
    await drive(this.clock, this.log.close(), "close");
  }

  #countEngineWork(): void {
    const engine = this.log.metrics().engine;
    stats.l0Flushes += engine.l0Flushes;
    stats.compactions += engine.compactions;
  }

  // --- building appends ---

  /** Builds the append of `spec` against `projection` (the state it will be judged against). */
  build(spec: AppendSpec, projection: ModelStream, nowMs: number): { records: AppendRecord[]; options: AppendOptions; inputs: RecordInput[]; invalid: boolean } {
    const tag = `a${++this.#tags}`;
    const inputs: RecordInput[] = spec.records.map((r, i) => ({
      record: {
        body: `${tag}.${i}.${"x".repeat(r.bodyBytes)}`,
        headers: Array.from({ length: r.headers }, (_, h): [string, string] => [`h${h}`, `${tag}-${h}`]),
        ...(r.tsOffsetMs === null ? {} : { timestamp: Math.max(0, nowMs + r.tsOffsetMs) }),
      },
      command: undefined,
    }));
    if (spec.command !== null) inputs.splice(Math.min(spec.commandAt, inputs.length), 0, this.#commandInput(spec.command, projection, nowMs));
    const tail = projection.tail.seqNum;
    const options: AppendOptions = {};
    if (spec.match === "right") options.matchSeqNum = tail;
    if (spec.match === "wrong") options.matchSeqNum = spec.wrongBy % 2 === 0 || tail === 0 ? tail + 1 + spec.wrongBy : Math.max(0, tail - 1 - spec.wrongBy);
    if (spec.token === "right") options.fencingToken = projection.token;
    if (spec.token === "wrong") options.fencingToken = `${projection.token}-no`;
    const records = inputs.map((input) => input.record);
    switch (spec.invalid) {
      case null:
        return { records, options, inputs, invalid: false };
      case "empty":
        return { records: [], options, inputs, invalid: true };
      case "emptyHeaderName":
        return { records: [{ body: tag, headers: [["", "v"], ["a", "b"]] }], options, inputs, invalid: true };
      case "longToken":
        return { records, options: { ...options, fencingToken: "x".repeat(37) }, inputs, invalid: true };
      case "badMatch":
        return { records, options: { ...options, matchSeqNum: -1 }, inputs, invalid: true };
      case "unknownCommand":
        return { records: [...records, { body: "", headers: [["", "nope"]] }], options, inputs, invalid: true };
    }
  }

  #commandInput(spec: NonNullable<CommandSpec>, projection: ModelStream, nowMs: number): RecordInput {
    // Command records carry a timestamp so that they are valid on a client-require stream too.
    if (spec.kind === "fence") return { record: { ...fenceRecord(spec.token), timestamp: nowMs }, command: spec };
    const seqNum = Math.max(0, projection.tail.seqNum - spec.back);
    const command: ModelCommand = { kind: "trim", seqNum };
    return { record: { ...trimRecord(seqNum), timestamp: nowMs }, command };
  }

  /** Predicts `spec` against the projections (applying it when accepted) and returns what to send. */
  plan(spec: AppendSpec, projections: ModelStream[], sessionFailed?: string): { issued: Issued; records: AppendRecord[]; options: AppendOptions } {
    const stream = spec.stream % this.streamCount;
    const projection = projections[stream]!;
    const nowMs = this.clock.nowMs();
    const built = this.build(spec, projection, nowMs);
    const prediction: Prediction | "invalid" = built.invalid
      ? "invalid"
      : predictAppend(projection, { records: built.inputs, conditions: built.options }, nowMs, sessionFailed as Parameters<typeof predictAppend>[3]);
    if (prediction !== "invalid" && prediction.ok) projection.apply(prediction);
    const issued: Issued = { label: `append ${this.#tags}`, stream, prediction, result: { outcome: { state: "pending" } } };
    return { issued, records: built.records, options: built.options };
  }

  /** Plans and sends plain appends in order (no await between them: they pipeline). */
  send(specs: readonly AppendSpec[], projections: ModelStream[]): Issued[] {
    return specs.map((spec) => {
      const { issued, records, options } = this.plan(spec, projections);
      issued.result = track(this.streams[issued.stream]!.append(records, options));
      return issued;
    });
  }

  // --- commands ---

  async appends(specs: AppendSpec[], follow: boolean, readWhilePending: boolean): Promise<void> {
    const projections = this.models.map((m) => m.clone());
    const followers = follow ? this.#startFollowers(specs) : [];
    if (readWhilePending) this.faulty.setLatency({ put: { fixedMs: 5 } });
    const issued = this.send(specs, projections);
    if (readWhilePending) await this.#readWhilePending();
    await driveUntil(this.clock, () => settled(issued) && followers.every((f) => f.done), "appends");
    this.faulty.setLatency(undefined);
    issued.forEach(expectExact);
    issued.forEach(count);
    this.models = projections;
    for (let i = 0; i < this.streamCount; i++) {
      assert.deepEqual(await drive(this.clock, this.streams[i]!.checkTail(), "checkTail"), this.models[i]!.tail, `checkTail of s${i} after appends`);
    }
    for (const f of followers) {
      stats.followedRecords += f.records.length;
      assert.equal(f.error, undefined, `follower on s${f.stream}: ${String(f.error)}`);
      assert.deepEqual(f.records, this.models[f.stream]!.records.slice(f.from, f.from + f.count), `follower on s${f.stream} from ${f.from}`);
    }
  }

  /**
   * Reads every stream while the appends just sent wait on their WAL PUT (5 ms of latency, no
   * time has passed): a read fixes its end at the durable tail when it starts, so it must return
   * exactly the records durable before the appends, nothing they wrote (DESIGN 1.4).
   */
  async #readWhilePending(): Promise<void> {
    const reads = this.streams.map((stream) => this.collect(stream.read({ from: { seqNum: 0 } })));
    for (let i = 0; i < reads.length; i++) {
      assert.deepEqual(await reads[i], { records: this.models[i]!.readable }, `s${i} read while appends are pending`);
      stats.pendingReads++;
    }
  }

  /**
   * Starts a live reader per stream that will get records and no trim command (a follower
   * delivering records trimmed by the batch that carries them is a known bug: see
   * stream-partition.test.ts). Each reads from the current tail exactly as many records as the
   * appends will add, so it must end by itself.
   */
  #startFollowers(specs: readonly AppendSpec[]): Follower[] {
    const projections = this.models.map((m) => m.clone());
    const counts = new Map<number, number>();
    const trims = new Set<number>();
    const savedTags = this.#tags;
    for (const spec of specs) {
      const { issued } = this.plan(spec, projections);
      if (issued.prediction !== "invalid" && issued.prediction.ok) counts.set(issued.stream, (counts.get(issued.stream) ?? 0) + issued.prediction.records.length);
      if (spec.command?.kind === "trim") trims.add(issued.stream);
    }
    this.#tags = savedTags; // the real plan must build the same bodies
    const followers: Follower[] = [];
    for (const [stream, count] of counts) {
      if (trims.has(stream)) continue;
      const from = this.models[stream]!.tail.seqNum;
      followers.push(startFollower(this.streams[stream]!.read({ from: { seqNum: from }, follow: true, limit: { count } }), stream, from, count));
    }
    return followers;
  }

  async session(streamIndex: number, specs: AppendSpec[]): Promise<void> {
    const projections = this.models.map((m) => m.clone());
    const stream = streamIndex % this.streamCount;
    const session = this.streams[stream]!.appendSession();
    const issued: Issued[] = [];
    let failedCode: string | undefined;
    for (const spec of specs) {
      const plan = this.plan({ ...spec, stream }, projections, failedCode);
      const prediction = plan.issued.prediction;
      if (prediction !== "invalid" && !prediction.ok) failedCode ??= prediction.code;
      plan.issued.result = track(this.#submit(session, plan.records, plan.options));
      issued.push(plan.issued);
      await driveUntil(this.clock, () => true, "submit"); // let the submit take its permits
    }
    await driveUntil(this.clock, () => settled(issued), "session acks");
    issued.forEach(expectExact);
    issued.forEach(count);
    await drive(this.clock, session.close(), "session close");
    this.models = projections;
  }

  /** A submit whose failure (the session already failed) counts as the append's failure. */
  async #submit(session: AppendSession, records: AppendRecord[], options: AppendOptions): Promise<AppendAck> {
    const ticket = await session.submit(records, options);
    return ticket.ack();
  }

  async read(spec: ReadSpec): Promise<void> {
    const stream = spec.stream % this.streamCount;
    const model = this.models[stream]!;
    const read = this.#modelRead(spec, model);
    const expected = expectedRead(model, read);
    const got = await this.collect(this.streams[stream]!.read({ ...read, ...(read.until === undefined ? {} : { until: read.until }) }));
    const what = `read of s${stream} ${JSON.stringify(read)} (tail ${JSON.stringify(model.tail)}, trim point ${model.trimPoint})`;
    if ("code" in expected) {
      stats.readErrors++;
      assert.equal("error" in got ? got.error : "no error", expected.code, what);
    } else {
      stats.readRecords += expected.records.length;
      assert.ok(!("error" in got), `${what}: failed with ${"error" in got ? got.error : ""}`);
      assert.deepEqual(got.records, expected.records, what);
    }
  }

  #modelRead(spec: ReadSpec, model: ModelStream): ModelRead {
    const tail = model.tail;
    const records = model.records;
    const timestampNear = (n: number, delta: number) => (records.length === 0 ? this.clock.nowMs() : Math.max(0, records[n % records.length]!.timestamp + delta));
    const from =
      spec.from === "seq"
        ? { seqNum: spec.n % (tail.seqNum + 3) }
        : spec.from === "offset"
          ? { tailOffset: spec.n % (tail.seqNum + 3) }
          : spec.from === "ts"
            ? { timestamp: timestampNear(spec.n, spec.delta) }
            : { timestamp: tail.timestamp + 1 + spec.n };
    const limit = { ...(spec.count === null ? {} : { count: spec.count }), ...(spec.bytes === null ? {} : { bytes: spec.bytes }) };
    return { from, clamp: spec.clamp, limit, ...(spec.until === null ? {} : { until: timestampNear(spec.until.n, spec.until.delta) }) };
  }

  async collect(session: ReadSession): Promise<{ records: ModelRecord[] } | { error: string }> {
    const run = async () => {
      const records: ModelRecord[] = [];
      try {
        for await (const record of session) records.push(readRecordModel(record));
        return { records };
      } catch (error) {
        return { error: String((error as { code?: string }).code) };
      }
    };
    return drive(this.clock, run(), "read");
  }

  /** Every stream: checkTail equals the model's tail and a full read returns exactly the readable records. */
  async checkAll(): Promise<void> {
    for (let i = 0; i < this.streamCount; i++) {
      const model = this.models[i]!;
      assert.deepEqual(await drive(this.clock, this.streams[i]!.checkTail(), "checkTail"), model.tail, `checkTail of s${i}`);
      const got = await this.collect(this.streams[i]!.read({ from: { seqNum: 0 } }));
      assert.deepEqual(got, { records: model.readable }, `full read of s${i} (trim point ${model.trimPoint})`);
      stats.trimmedHidden += model.trimPoint;
    }
    const names = (await drive(this.clock, this.log.listStreams(), "listStreams")).map((s) => s.name);
    assert.deepEqual(names, STREAMS.slice(0, this.streamCount).map((s) => s.name));
  }

  armFault(kind: "refuse" | "lose", times: number): void {
    const isWal = (call: { kind: string; key: string }) => call.kind === "put" && call.key.startsWith("wal/");
    if (kind === "refuse") this.faulty.failWhen(isWal, { times });
    else this.faulty.loseResponse("put", isWal, { times });
  }

  /**
   * An outage longer than the retry deadline, around appends: the store is cut before they are
   * sent ("before"), while their WAL PUT is in flight ("inflight"), or right after their WAL PUT
   * landed with its response lost ("lost": durable, but the client cannot know). Appends sent
   * during the outage must fail as not applied. After healing, without reopening the Log, the
   * durable appends must be a whole-append prefix and the stream must go on from there.
   */
  async outage(kind: "before" | "inflight" | "lost", specs: AppendSpec[], during: AppendSpec[]): Promise<void> {
    const plain: AppendSpec = { stream: 0, records: [{ tsOffsetMs: 0, headers: 0, bodyBytes: 3 }], command: null, commandAt: 0, match: "none", token: "none", wrongBy: 0, invalid: null };
    // An armed transient fault would take the lost-response rule's place on the first WAL PUT.
    this.faulty.clearFaults();
    if (kind === "before") this.faulty.cut();
    if (kind === "inflight") this.faulty.setLatency({ put: { fixedMs: 20 } });
    if (kind === "lost") {
      this.faulty.addFault({
        effect: "lose_response",
        when: (call) => call.kind === "put" && call.key.startsWith("wal/"),
        error: () => {
          this.faulty.cut();
          return new StorageError("response lost, then the network went down (test)", { retryable: true, outcome: "unknown" });
        },
      });
    }
    const projections = this.models.map((m) => m.clone());
    const issued = this.send([plain, ...specs], projections);
    await this.clock.settle();
    if (kind === "inflight") this.faulty.cut();
    await driveUntil(this.clock, () => settled(issued), "appends in the outage", 10_000);
    assert.ok(this.faulty.isCut, `the outage (${kind}) never started: ${JSON.stringify(issued.map((x) => x.result.outcome))} ${JSON.stringify(this.faulty.counters())}`);
    stats.outages++;
    issued.forEach(expectPredictionOrStorage);
    await this.#duringOutage(during);
    this.faulty.heal();
    this.faulty.clearFaults();
    this.faulty.setLatency(undefined);
    await driveUntil(this.clock, () => this.log.health().status === "ok", "recovery after heal", 10_000);
    await this.resolve(issued);
  }

  async #duringOutage(specs: AppendSpec[]): Promise<void> {
    const issued = this.send(specs, this.models.map((m) => m.clone()));
    await driveUntil(this.clock, () => settled(issued), "appends during the outage", 10_000);
    for (const x of issued) {
      const got = x.result.outcome;
      const code = x.prediction === "invalid" ? "validation" : "storage";
      assert.ok(got.state === "failed" && got.code === code && got.outcome === "not_applied", `during the outage: ${show(x)}`);
      stats.notAppliedInOutage++;
    }
  }

  /** Clean: close and open. Crash: appends in flight, cut the wrapper, abandon the Log, open a new one. */
  async reopen(crash: boolean, specs: AppendSpec[], advanceMs: number): Promise<void> {
    if (!crash) {
      const projections = this.models.map((m) => m.clone());
      const issued = this.send(specs, projections);
      // Let the appends reach the streamer before close(), so that close() waits for them
      // (one still on its way when close() is called is refused as not applied: tested below).
      await this.clock.settle();
      await this.close(); // close waits for pending appends: they must all be acked
      issued.forEach(expectExact);
      issued.forEach(count);
      this.models = projections;
      stats.cleanReopens++;
      await this.open();
      return this.checkAll();
    }
    this.faulty.setLatency({ put: { fixedMs: 4 } });
    const issued = this.send(specs, this.models.map((m) => m.clone()));
    await this.clock.advance(advanceMs);
    this.faulty.cut();
    stats.crashes++;
    this.#countEngineWork();
    const abandoned = this.log;
    let abandonedClosed = false;
    // Close the abandoned Log in the background only to stop its timers; it can reach nothing.
    void abandoned.close().catch(() => undefined).finally(() => (abandonedClosed = true));
    await this.open();
    await driveUntil(this.clock, () => settled(issued) && abandonedClosed, "the abandoned Log's appends", 10_000);
    issued.forEach(expectPredictionOrStorage);
    await this.resolve(issued);
  }

  /**
   * Decides appends of unknown outcome per stream: the durable tail must fall between whole
   * appends, in sequencing order; acked ones before it, known-not-applied ones after it.
   */
  async resolve(issued: readonly Issued[]): Promise<void> {
    for (let i = 0; i < this.streamCount; i++) {
      const candidates = issued.filter((x): x is Issued & { prediction: Accepted } => x.stream === i && x.prediction !== "invalid" && x.prediction.ok);
      const model = this.models[i]!;
      const durableTail = await this.#probeTail(i);
      const prefix = durablePrefix(model.tail.seqNum, candidates.map((x) => x.prediction), durableTail);
      const what = `s${i} after unknown outcomes: durable tail ${durableTail}, model tail ${model.tail.seqNum}, candidates ${candidates.map(show).join("; ")}`;
      assert.ok(prefix !== undefined, `${what}: the tail is not between whole appends`);
      candidates.forEach((x, k) => {
        const got = x.result.outcome;
        if (k < prefix) assert.ok(!(got.state === "failed" && got.outcome === "not_applied"), `${what}: ${x.label} failed as not applied but is durable`);
        else assert.ok(got.state !== "acked", `${what}: ${x.label} was acked but is not durable`);
        if (k < prefix) model.apply(x.prediction);
        if (got.state === "acked") stats.acked++;
        else if (k < prefix) stats.unknownDurable++;
        else stats.unknownLost++;
      });
    }
    await this.checkAll();
  }

  /**
   * The durable tail, read by an append that cannot apply (matchSeqNum far past any tail): its
   * SeqNumMismatchError names the tail the streamer found after reloading from durable state.
   * checkTail() alone is not enough after a reset (a known bug: see stream-partition.test.ts).
   */
  async #probeTail(stream: number): Promise<number> {
    const probe = this.streams[stream]!.append([{ body: "probe", timestamp: this.clock.nowMs() }], { matchSeqNum: Number.MAX_SAFE_INTEGER });
    const error = await drive(this.clock, probe.then(() => undefined, (e: unknown) => e), "probe append");
    assert.ok(error !== undefined && (error as { code?: string }).code === "seq_num_mismatch", `probe append: ${String(error)}`);
    return (error as { expectedSeqNum: number }).expectedSeqNum;
  }

  async run(command: Command): Promise<void> {
    switch (command.t) {
      case "appends":
        return this.appends(command.items, command.follow, command.readWhilePending);
      case "session":
        return this.session(command.stream, command.items);
      case "read":
        return this.read(command.spec);
      case "check":
        return this.checkAll();
      case "time":
        return this.clock.advance(command.ms);
      case "fault":
        return this.armFault(command.kind, command.times);
      case "outage":
        return this.outage(command.kind, command.items, command.during);
      case "reopen":
        return this.reopen(command.crash, command.items, command.advanceMs);
    }
  }
}

interface Follower {
  stream: number;
  from: number;
  count: number;
  records: ModelRecord[];
  done: boolean;
  error: unknown;
}

function startFollower(session: ReadSession, stream: number, from: number, count: number): Follower {
  const follower: Follower = { stream, from, count, records: [], done: false, error: undefined };
  void (async () => {
    try {
      for await (const record of session) follower.records.push(readRecordModel(record));
    } catch (error) {
      follower.error = error;
    } finally {
      follower.done = true;
    }
  })();
  return follower;
}

// ---------------------------------------------------------------------------------------------

const SEED = process.env.DURASTREAM_SEED === undefined ? 20_260_712 : Number(process.env.DURASTREAM_SEED);
const RUNS = Number(process.env.DURASTREAM_RUNS ?? 200);

it(`streams agree with a simple model under random appends, sessions, reads, faults and reopenings (seed ${SEED}, ${RUNS} runs)`, { timeout: 120_000 }, async () => {
  console.log(`stream model test: DURASTREAM_SEED=${SEED} DURASTREAM_RUNS=${RUNS}`);
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 3 }), fc.array(commandArb, { minLength: 5, maxLength: 30 }), async (streamCount, commands) => {
      const harness = new Harness(streamCount);
      await harness.open();
      for (const command of commands) await harness.run(command);
      await harness.checkAll();
      await harness.close();
    }),
    {
      seed: SEED,
      numRuns: RUNS,
      endOnFailure: process.env.DURASTREAM_SHRINK !== "1",
      ...(process.env.DURASTREAM_PATH === undefined ? {} : { path: process.env.DURASTREAM_PATH }),
    },
  );
  console.log(`stream model test: ${JSON.stringify(stats)}`);
  // The runs must have exercised what this test claims to check, or a pass means nothing.
  if (RUNS >= 20) {
    for (const [name, value] of Object.entries(stats)) assert.ok(value > 0, `no run exercised ${name}: ${JSON.stringify(stats)}`);
  }
});

// ---------------------------------------------------------------------------------------------
// Bugs the model found, kept as todo tests (the model works around them; see the comments there)

it(
  "an append still on its way when close() is called is not reported as not applied when it becomes durable",
  async () => {
    const memory = new MemoryStore();
    const log = await openLog({ store: memory });
    const stream = await log.openStream("s", { createIfMissing: true });
    await stream.append([{ body: "first" }]);
    const results = await Promise.allSettled([stream.append([{ body: "a" }]), stream.append([{ body: "b" }]), log.close()]);
    const reopened = await openLog({ store: memory });
    const bodies: string[] = [];
    for await (const record of (await reopened.openStream("s")).read({ from: { seqNum: 0 } })) bodies.push(Buffer.from(record.body).toString());
    await reopened.close();
    ["a", "b"].forEach((body, i) => {
      const result = results[i]!;
      if (result.status === "fulfilled") return assert.ok(bodies.includes(body), `append ${body} was acked but is not in the stream`);
      const error = result.reason as { code: string; outcome: string };
      if (error.outcome === "not_applied") assert.ok(!bodies.includes(body), `append ${body} failed with ${error.code}/not_applied, but the stream holds it: ${JSON.stringify(bodies)}`);
    });
  },
);

it(
  "a live follower never delivers records trimmed by the batch that carries them",
  async () => {
    const log = await openLog({ store: new MemoryStore() });
    const stream = await log.openStream("s", { createIfMissing: true });
    await stream.append([{ body: "r0" }]);
    // Of the batch [a, b, trim(3)] only the trim record (3) is readable: count 1 ends the follower.
    const follower = stream.read({ from: { seqNum: 1 }, follow: true, limit: { count: 1 } });
    const followed: number[] = [];
    const reading = (async () => {
      for await (const record of follower) followed.push(record.seqNum);
    })();
    await follower.caughtUp(); // subscribed: the batch below reaches it live
    await stream.append([{ body: "a" }, { body: "b" }, trimRecord(3)]);
    await reading;
    const caughtUp: number[] = [];
    for await (const record of stream.read({ from: { seqNum: 1 } })) caughtUp.push(record.seqNum);
    await log.close();
    assert.deepEqual(caughtUp, [3], "a catch-up read skips the trimmed records");
    assert.deepEqual(followed, [3], `the follower delivered trimmed records: ${JSON.stringify(followed)}`);
  },
);
