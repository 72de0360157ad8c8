/**
 * A history checker for streams: concurrent operations and their results are recorded while
 * they run (under faults, crashes, outages), then checked against the stream's sequential
 * specification once the final content of every stream is known.
 *
 * Recording: every operation gets an id, its invoke and complete times on one monotonic
 * counter (`History.now()`), its input and its result. Appended bodies are unique
 * ("<op id>.<index>"), so the final content says which operation each record came from.
 *
 * What is checked, per stream, against its final content F (read after the run, from a fresh
 * open of the store with no faults):
 *   - every record of F belongs to a recorded append, and an append's records are either all
 *     in F, contiguous and in order, or none is (atomic; never duplicated);
 *   - an acknowledged append is in F exactly at the positions its ack gave;
 *   - an append rejected with outcome "not_applied" is not in F; one with "unknown" may be
 *     (all or nothing, as above); an append error always carries an outcome;
 *   - appends acknowledged one before the other was invoked are in that order in F;
 *   - an append present in F with `matchSeqNum` starts there, and one with a fencing token
 *     starts where the stream's token (from the fence commands before it in F) was that token;
 *   - reads return F's records at the seqNums they report, contiguous from where they started,
 *     and a read to the tail that started after an append was acknowledged includes it;
 *   - followers see F's records contiguously from where they started;
 *   - `checkTail` never goes back (across pollers, in real time), never reports past the end
 *     of F, and never reports less than an append acknowledged before it started.
 * Problems come back as strings (the caller prints them with its seed); the first few of each
 * kind are kept.
 */
import type { DurastreamError } from "../../src/errors.js";
import type { AppendAck, ReadRecord } from "../../src/stream/types.js";

/** One record as recorded: its seqNum and its body as text. */
export interface SeenRecord {
  seqNum: number;
  body: string;
}

export type AppendResult = { ok: true; ack: AppendAck } | { ok: false; code: string; outcome: string | undefined; message: string };

export interface AppendOp {
  kind: "append";
  id: number;
  stream: string;
  actor: string;
  /** Record bodies as appended; a fence command's body is its token. */
  bodies: string[];
  /** A fence command (one record) setting this token. */
  fenceToken?: string;
  matchSeqNum?: number;
  fencingToken?: string;
  invokedAt: number;
  completedAt?: number;
  result?: AppendResult;
}

export interface ReadOp {
  kind: "read";
  id: number;
  stream: string;
  actor: string;
  fromSeqNum: number;
  /** A read without a count limit that was meant to reach the tail. */
  toTail: boolean;
  follow: boolean;
  invokedAt: number;
  completedAt?: number;
  records: SeenRecord[];
  error?: string;
  /** The error's message, for the report. */
  errorMessage?: string;
}

export interface TailOp {
  kind: "tail";
  id: number;
  stream: string;
  actor: string;
  invokedAt: number;
  completedAt?: number;
  tail?: number;
  error?: string;
}

export type Op = AppendOp | ReadOp | TailOp;

/** Codes an operation may end with under faults (anything else is a problem by itself). */
const EXPECTED_APPEND_CODES = new Set(["storage", "seq_num_mismatch", "fencing_token_mismatch", "closed", "aborted", "stream_not_found", "fenced"]);
const EXPECTED_READ_CODES = new Set(["storage", "closed", "aborted", "stream_not_found"]);
const MAX_PROBLEMS_PER_KIND = 5;

export class History {
  readonly ops: Op[] = [];
  #clock = 0;
  #nextId = 1;

  /** A logical time: strictly increasing, so "completed before invoked" is exact. */
  now(): number {
    return ++this.#clock;
  }

  get nextId(): number {
    return this.#nextId;
  }

  /** Bodies for a new append by `actor` of `count` records: unique across the history. */
  beginAppend(stream: string, actor: string, count: number, options: { matchSeqNum?: number; fencingToken?: string } = {}): AppendOp {
    const id = this.#nextId++;
    const op: AppendOp = { kind: "append", id, stream, actor, bodies: Array.from({ length: count }, (_, i) => `${id}.${i}`), invokedAt: this.now(), ...options };
    this.ops.push(op);
    return op;
  }

  beginFence(stream: string, actor: string, token: string, options: { matchSeqNum?: number; fencingToken?: string } = {}): AppendOp {
    const op: AppendOp = { kind: "append", id: this.#nextId++, stream, actor, bodies: [token], fenceToken: token, invokedAt: this.now(), ...options };
    this.ops.push(op);
    return op;
  }

  endAppend(op: AppendOp, result: { ack: AppendAck } | { error: unknown }): void {
    op.completedAt = this.now();
    if ("ack" in result) {
      op.result = { ok: true, ack: result.ack };
    } else {
      const e = result.error as Partial<DurastreamError> & { message?: string };
      op.result = { ok: false, code: String(e?.code ?? "no code"), outcome: e?.outcome, message: String(e?.message ?? e) };
    }
  }

  beginRead(stream: string, actor: string, fromSeqNum: number, toTail: boolean, follow: boolean): ReadOp {
    const op: ReadOp = { kind: "read", id: this.#nextId++, stream, actor, fromSeqNum, toTail, follow, invokedAt: this.now(), records: [] };
    this.ops.push(op);
    return op;
  }

  endRead(op: ReadOp, error?: unknown): void {
    op.completedAt = this.now();
    if (error === undefined) return;
    op.error = codeOf(error);
    op.errorMessage = error instanceof Error ? error.message : String(error);
  }

  beginTail(stream: string, actor: string): TailOp {
    const op: TailOp = { kind: "tail", id: this.#nextId++, stream, actor, invokedAt: this.now() };
    this.ops.push(op);
    return op;
  }

  endTail(op: TailOp, result: { tail: number } | { error: unknown }): void {
    op.completedAt = this.now();
    if ("tail" in result) op.tail = result.tail;
    else op.error = codeOf(result.error);
  }

  /** Operations that never completed (a hang, when the run is over). */
  pending(): Op[] {
    return this.ops.filter((op) => op.completedAt === undefined && !(op.kind === "read" && op.follow));
  }
}

export function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : `no code (${error instanceof Error ? error.message : String(error)})`;
}

export function seenRecord(record: ReadRecord): SeenRecord {
  return { seqNum: record.seqNum, body: Buffer.from(record.body).toString("utf8") };
}

/** What the checker needs of a stream's end state. */
export interface FinalStream {
  /** The records from seqNum 0 (no trims in these histories), in order. */
  records: SeenRecord[];
  /** Stream incarnations: a stream deleted and created again is checked per incarnation by the caller. */
}

class Problems {
  readonly #byKind = new Map<string, string[]>();
  readonly #counts = new Map<string, number>();

  add(kind: string, text: string): void {
    const list = this.#byKind.get(kind) ?? [];
    this.#counts.set(kind, (this.#counts.get(kind) ?? 0) + 1);
    if (list.length < MAX_PROBLEMS_PER_KIND) list.push(text);
    this.#byKind.set(kind, list);
  }

  list(): string[] {
    const out: string[] = [];
    for (const [kind, texts] of this.#byKind) {
      const count = this.#counts.get(kind)!;
      out.push(`${kind} (${count}):`, ...texts.map((t) => `  ${t}`));
    }
    return out;
  }
}

/** Checks the recorded history against the final content of each stream; returns the problems. */
export function checkHistory(history: History, finals: ReadonlyMap<string, FinalStream>): string[] {
  const problems = new Problems();
  for (const [name, final] of finals) {
    const ops = history.ops.filter((op) => op.stream === name);
    checkStream(ops, final.records, problems);
  }
  for (const op of history.pending()) problems.add("never completed (a hang)", describe(op));
  return problems.list();
}

function describe(op: Op): string {
  if (op.kind === "append") {
    const cond = `${op.matchSeqNum === undefined ? "" : ` matchSeqNum ${op.matchSeqNum}`}${op.fencingToken === undefined ? "" : ` token ${JSON.stringify(op.fencingToken)}`}`;
    const what = op.fenceToken === undefined ? `${op.bodies.length} records` : `fence ${JSON.stringify(op.fenceToken)}`;
    const result = op.result === undefined ? "pending" : op.result.ok ? `acked ${op.result.ack.start.seqNum}..${op.result.ack.end.seqNum}` : `${op.result.code}/${op.result.outcome ?? "no outcome"}`;
    return `append #${op.id} by ${op.actor} on ${op.stream}: ${what}${cond} -> ${result} [${op.invokedAt}, ${op.completedAt ?? "-"}]`;
  }
  if (op.kind === "read") {
    const error = op.error === undefined ? "" : `, ${op.error}${op.errorMessage === undefined ? "" : ` (${op.errorMessage})`}`;
    return `${op.follow ? "follow" : "read"} #${op.id} by ${op.actor} on ${op.stream} from ${op.fromSeqNum}: ${op.records.length} records${error}`;
  }
  return `checkTail #${op.id} by ${op.actor} on ${op.stream}: ${op.tail ?? op.error ?? "pending"} [${op.invokedAt}, ${op.completedAt ?? "-"}]`;
}

/** Where each append's records are in the final content: positions by record index. */
interface Placement {
  /** Per append id: the seqNum of each of its records found (holes where one is missing). */
  positions: Map<number, number[]>;
}

function checkStream(ops: Op[], records: SeenRecord[], problems: Problems): void {
  const appends = ops.filter((op): op is AppendOp => op.kind === "append");
  const placement = placeAppends(appends, records, problems);
  const starts = new Map<number, number>();
  for (const op of appends) {
    const start = checkAppendOutcome(op, placement.positions.get(op.id) ?? [], problems);
    if (start !== undefined) starts.set(op.id, start);
  }
  checkTokens(appends, starts, records.length, problems);
  const acked = appends.filter((op) => op.result?.ok === true).sort((a, b) => a.completedAt! - b.completedAt!);
  checkRealTimeOrder(acked, problems);
  checkReads(ops, records, acked, problems);
  checkTails(ops, records.length, acked, problems);
}

/** Finds each record's append (by body; a fence command's body is its token), and flags strays and duplicates. */
function placeAppends(appends: AppendOp[], records: SeenRecord[], problems: Problems): Placement {
  const byId = new Map(appends.map((op) => [op.id, op]));
  const fenceByToken = new Map(appends.filter((op) => op.fenceToken !== undefined).map((op) => [op.fenceToken!, op]));
  const positions = new Map<number, number[]>();
  const seen = new Set<string>();
  records.forEach((record, index) => {
    if (record.seqNum !== index) problems.add("final content not contiguous", `seqNum ${record.seqNum} at index ${index}`);
    if (seen.has(record.body)) problems.add("duplicated record", `${JSON.stringify(record.body)} again at seqNum ${index}`);
    seen.add(record.body);
    const fence = fenceByToken.get(record.body);
    const [idText, indexText] = record.body.split(".");
    const op = fence ?? byId.get(Number(idText));
    if (op === undefined || (fence === undefined && (op.fenceToken !== undefined || indexText === undefined))) {
      problems.add("record from no recorded append", `seqNum ${index}: ${JSON.stringify(record.body)}`);
      return;
    }
    const list = positions.get(op.id) ?? [];
    list[fence === undefined ? Number(indexText) : 0] ??= index;
    positions.set(op.id, list);
  });
  return { positions };
}

/** Checks one append's result against where its records are; returns its start when present and whole. */
function checkAppendOutcome(op: AppendOp, positions: number[], problems: Problems): number | undefined {
  const present = positions.filter((p) => p !== undefined).length;
  if (present > 0 && present !== op.bodies.length) {
    problems.add("append partly applied", `${describe(op)}: ${present} of ${op.bodies.length} records in the stream`);
    return undefined;
  }
  if (present > 0 && positions.some((p, i) => p !== positions[0]! + i)) {
    problems.add("append not contiguous", `${describe(op)} at ${positions.join(",")}`);
    return undefined;
  }
  const start = present > 0 ? positions[0]! : undefined;
  const result = op.result;
  if (result === undefined) {
    if (start !== undefined) problems.add("pending append is durable", describe(op));
  } else if (result.ok) {
    if (start === undefined) problems.add("ACKNOWLEDGED APPEND LOST", describe(op));
    else if (start !== result.ack.start.seqNum || result.ack.end.seqNum !== start + op.bodies.length) {
      problems.add("acknowledged at the wrong position", `${describe(op)}, but found at ${start}`);
    }
  } else {
    if (result.outcome === undefined) problems.add("append error without an outcome", `${describe(op)}: ${result.message}`);
    if (!EXPECTED_APPEND_CODES.has(result.code)) problems.add("unexpected append error", `${describe(op)}: ${result.message}`);
    if (result.outcome === "not_applied" && start !== undefined) problems.add("not_applied append is in the stream", `${describe(op)} at ${start}`);
    const conditionFailed = result.code === "seq_num_mismatch" || result.code === "fencing_token_mismatch";
    if (conditionFailed && result.outcome !== "not_applied") problems.add("condition failure not marked not_applied", describe(op));
  }
  if (start !== undefined && op.matchSeqNum !== undefined && start !== op.matchSeqNum) {
    problems.add("matchSeqNum not honoured", `${describe(op)} is at ${start}`);
  }
  return start;
}

/** An append present with a fencing token starts where the stream's token (from the fences before it) was that token. */
function checkTokens(appends: AppendOp[], starts: Map<number, number>, length: number, problems: Problems): void {
  const fenceAt = new Map<number, string>();
  for (const op of appends) if (op.fenceToken !== undefined && starts.has(op.id)) fenceAt.set(starts.get(op.id)!, op.fenceToken);
  const tokenBefore: string[] = [];
  let token = "";
  for (let i = 0; i <= length; i++) {
    tokenBefore[i] = token;
    token = fenceAt.get(i) ?? token;
  }
  for (const op of appends) {
    const start = starts.get(op.id);
    if (start === undefined || op.fencingToken === undefined) continue;
    if (tokenBefore[start] !== op.fencingToken) problems.add("fencing token not honoured", `${describe(op)} at ${start}, where the token was ${JSON.stringify(tokenBefore[start])}`);
  }
}

/** Appends acknowledged one before the other was invoked are in that order (`acked` sorted by completion). */
function checkRealTimeOrder(acked: AppendOp[], problems: Problems): void {
  const startOf = (op: AppendOp) => (op.result as { ack: AppendAck }).ack.start.seqNum;
  const byInvoke = [...acked].sort((a, b) => a.invokedAt - b.invokedAt);
  let latest: AppendOp | undefined;
  let k = 0;
  for (const op of byInvoke) {
    for (; k < acked.length && acked[k]!.completedAt! < op.invokedAt; k++) {
      if (latest === undefined || startOf(acked[k]!) > startOf(latest)) latest = acked[k];
    }
    if (latest !== undefined && startOf(op) < startOf(latest)) {
      problems.add("acknowledged appends out of real-time order", `${describe(op)} starts before ${describe(latest)}, acknowledged before it was invoked`);
    }
  }
}

/** The highest end of the appends acknowledged before `time` (acked sorted by completedAt). */
function ackedEndBefore(acked: AppendOp[], time: number): number {
  let end = 0;
  for (const op of acked) {
    if (op.completedAt! >= time) break;
    end = Math.max(end, (op.result as { ack: AppendAck }).ack.end.seqNum);
  }
  return end;
}

function checkReads(ops: Op[], records: SeenRecord[], acked: AppendOp[], problems: Problems): void {
  for (const op of ops) {
    if (op.kind !== "read") continue;
    let expected = op.records[0]?.seqNum ?? op.fromSeqNum;
    if (op.records.length > 0 && op.records[0]!.seqNum !== op.fromSeqNum) {
      problems.add(op.follow ? "follower skipped records" : "read started elsewhere", `${describe(op)}: first seqNum ${op.records[0]!.seqNum}`);
    }
    for (const record of op.records) {
      if (record.seqNum !== expected) {
        problems.add(op.follow ? "follower skipped or repeated records" : "read not contiguous", `${describe(op)}: seqNum ${record.seqNum} after ${expected - 1}`);
        break;
      }
      expected++;
      const truth = records[record.seqNum];
      if (truth === undefined || truth.body !== record.body) {
        problems.add(op.follow ? "FOLLOWER SAW WRONG DATA" : "READ WRONG DATA", `${describe(op)}: seqNum ${record.seqNum} is ${JSON.stringify(record.body)}, the stream holds ${JSON.stringify(truth?.body)}`);
        break;
      }
    }
    if (op.error !== undefined && !EXPECTED_READ_CODES.has(op.error)) problems.add("unexpected read error", `${describe(op)}`);
    if (op.toTail && op.error === undefined && !op.follow) {
      const mustSee = ackedEndBefore(acked, op.invokedAt);
      if (expected < mustSee) problems.add("read missed an acknowledged append", `${describe(op)}: ended at ${expected}, an append acknowledged before it ended at ${mustSee}`);
    }
  }
}

function checkTails(ops: Op[], finalTail: number, acked: AppendOp[], problems: Problems): void {
  const tails = ops.filter((op): op is TailOp => op.kind === "tail" && op.tail !== undefined);
  for (const op of ops) {
    if (op.kind === "tail" && op.error !== undefined && !EXPECTED_READ_CODES.has(op.error)) problems.add("unexpected checkTail error", describe(op));
  }
  const byCompleted = [...tails].sort((a, b) => a.completedAt! - b.completedAt!);
  const byInvoke = [...tails].sort((a, b) => a.invokedAt - b.invokedAt);
  let highest = 0;
  let highestOp: TailOp | undefined;
  let k = 0;
  for (const op of byInvoke) {
    while (k < byCompleted.length && byCompleted[k]!.completedAt! < op.invokedAt) {
      if (byCompleted[k]!.tail! > highest) {
        highest = byCompleted[k]!.tail!;
        highestOp = byCompleted[k];
      }
      k++;
    }
    if (op.tail! < highest) problems.add("checkTail went backwards", `${describe(op)} after ${describe(highestOp!)}`);
    if (op.tail! > finalTail) problems.add("checkTail reported records that do not exist", `${describe(op)}, the stream ends at ${finalTail}`);
    const mustSee = ackedEndBefore(acked, op.invokedAt);
    if (op.tail! < mustSee) problems.add("checkTail below an acknowledged append", `${describe(op)}: an append acknowledged before it ended at ${mustSee}`);
  }
}
