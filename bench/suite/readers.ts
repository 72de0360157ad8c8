/**
 * Follow lag across processes, and what an idle follower costs. Three processes on one machine:
 *
 *   case (parent) ──spawn──> writer: openLog as the writer, appends one record every
 *        │                   1000 / appendsPerSec ms (open loop), prints "a <seq> <sent> <acked>"
 *        └───────spawn──> reader: openLog({ readOnly: true, pollIntervalMs }), follows the stream
 *                            from seqNum 0, prints "d <seq> <delivered>" per record; on "idle <ms>"
 *                            it counts its store requests over that long and prints them
 *
 * Times are epoch ms with sub-ms resolution (performance.timeOrigin + performance.now()), the
 * same machine clock in every process, so "ack to delivery" (acked in the writer, delivered in
 * the reader) can be subtracted. The idle window starts after the last record was delivered,
 * with the writer still open and idle: it is what following a quiet log costs in requests.
 *
 * Stores (the same objects seen by both processes):
 *   local   a LocalStore directory
 *   s3sim   the same directory, with FaultyStore's S3_STANDARD_LATENCY wrapped around the
 *           LocalStore in each process (FaultyStore cannot share a MemoryStore across
 *           processes, but latency applied on each side of a shared store is S3's timing);
 *           the writer's flushIntervalMs is 50, S3's default
 *   s3gw    the real S3-compatible gateway named by S3_ENDPOINT (local Ceph RGW in CI: a
 *           network hop of a few ms, not S3's latency), when that variable is set
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { ensureBucket, FaultyStore, LocalStore, openLog, S3_STANDARD_LATENCY, S3Store, type ObjectStore, type S3StoreOptions } from "../../src/index.js";
import type { Metrics } from "../lib/runner.js";
import { LatencyRecorder } from "../lib/stats.js";

export type ReaderStoreKind = "local" | "s3sim" | "s3gw";

export interface ReadersParams {
  store: ReaderStoreKind;
  pollIntervalMs: number;
  flushIntervalMs: number;
  appendsPerSec: number;
  durationMs: number;
  idleMs: number;
}

type RoleStore = { kind: "local" | "s3sim"; dir: string } | { kind: "s3gw"; bucket: string; prefix: string };

export const ROLE_FLAG = "--role";
const STREAM = "follow";
/** Longest wait for a child's next expected line (start-up, the appends, the idle window). */
const STEP_TIMEOUT_MS = 60_000;

const epochMs = (): number => performance.timeOrigin + performance.now();

/** The S3 gateway's connection from the environment (S3_ENDPOINT etc.), or undefined. */
export function s3GatewayFromEnv(): Omit<S3StoreOptions, "bucket" | "prefix"> | undefined {
  const endpoint = process.env.S3_ENDPOINT;
  if (endpoint === undefined || endpoint === "") return undefined;
  return { endpoint, region: process.env.AWS_REGION ?? "us-east-1", forcePathStyle: process.env.S3_FORCE_PATH_STYLE !== "false" };
}

function openRoleStore(spec: RoleStore): ObjectStore {
  if (spec.kind !== "s3gw") {
    const local = new LocalStore(spec.dir);
    return spec.kind === "local" ? local : new FaultyStore(local, { latency: S3_STANDARD_LATENCY });
  }
  const connection = s3GatewayFromEnv();
  if (connection === undefined) throw new Error("store s3gw needs S3_ENDPOINT");
  return new S3Store({ ...connection, bucket: spec.bucket, prefix: spec.prefix });
}

// -------------------------------------------------------------------------------------------------
// The case (parent of the two role processes)
// -------------------------------------------------------------------------------------------------

export async function crossProcessFollow(params: ReadersParams): Promise<Metrics> {
  return withRoleStore(params.store, async (store) => {
    const writer = new RoleProcess("follow-writer", { store, flushIntervalMs: params.flushIntervalMs });
    let reader: RoleProcess | undefined;
    try {
      await writer.next("ready");
      reader = new RoleProcess("follow-reader", { store, pollIntervalMs: params.pollIntervalMs });
      await reader.next("following");
      const count = Math.max(1, Math.round((params.appendsPerSec * params.durationMs) / 1000));
      writer.send(`go ${count} ${1000 / params.appendsPerSec}`);
      await writer.next("sent");
      await reader.until(() => reader!.delivered.size >= count);
      reader.send(`idle ${params.idleMs}`);
      const idle = JSON.parse((await reader.next("idle")).slice("idle ".length)) as Metrics;
      return { ...lagMetrics(writer.acked, reader.delivered, count), ...idle };
    } finally {
      await writer.stop();
      await reader?.stop();
    }
  });
}

async function withRoleStore<T>(kind: ReaderStoreKind, fn: (store: RoleStore) => Promise<T>): Promise<T> {
  if (kind !== "s3gw") {
    const dir = await mkdtemp(path.join(tmpdir(), "durastream-bench-readers-"));
    try {
      return await fn({ kind, dir: path.join(dir, "store") });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  const connection = s3GatewayFromEnv();
  if (connection === undefined) throw new Error("the s3gw readers case needs S3_ENDPOINT");
  const bucket = "durastream-bench";
  const prefix = `readers-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
  await ensureBucket({ ...connection, bucket });
  try {
    return await fn({ kind, bucket, prefix });
  } finally {
    const store = new S3Store({ ...connection, bucket, prefix });
    for await (const entry of store.list("")) await store.delete(entry.key);
    await store.close?.();
  }
}

function lagMetrics(acked: Map<number, { sentMs: number; ackedMs: number }>, delivered: Map<number, number>, count: number): Metrics {
  const afterAck = new LatencyRecorder();
  const whole = new LatencyRecorder();
  const ack = new LatencyRecorder();
  for (const [seqNum, { sentMs, ackedMs }] of acked) {
    const deliveredMs = delivered.get(seqNum);
    if (deliveredMs === undefined) throw new Error(`record ${seqNum} was acked but never delivered to the reader`);
    afterAck.add(deliveredMs - ackedMs);
    whole.add(deliveredMs - sentMs);
    ack.add(ackedMs - sentMs);
  }
  if (acked.size !== count) throw new Error(`the writer acked ${acked.size} of ${count} appends`);
  const a = afterAck.summary();
  const w = whole.summary();
  const k = ack.summary();
  return { records: count, lagP50Ms: a.p50Ms, lagP99Ms: a.p99Ms, lagMaxMs: a.maxMs, deliverP50Ms: w.p50Ms, deliverP99Ms: w.p99Ms, ackP50Ms: k.p50Ms, ackP99Ms: k.p99Ms };
}

/** A role child: the same script with `--role <name> <json>`, talking in lines. */
class RoleProcess {
  readonly #child: ChildProcess;
  readonly #lines: string[] = [];
  #wake: (() => void) | undefined;
  #exited = false;
  readonly acked = new Map<number, { sentMs: number; ackedMs: number }>();
  readonly delivered = new Map<number, number>();

  constructor(role: string, config: unknown) {
    const args = [...process.execArgv, process.argv[1]!, ROLE_FLAG, role, JSON.stringify(config)];
    this.#child = spawn(process.execPath, args, { stdio: ["pipe", "pipe", "inherit"] });
    this.#child.on("exit", () => {
      this.#exited = true;
      this.#wake?.();
    });
    createInterface({ input: this.#child.stdout! }).on("line", (line) => this.#onLine(line));
  }

  #onLine(line: string): void {
    const [kind, a, b, c] = line.split(" ");
    if (kind === "a") this.acked.set(Number(a), { sentMs: Number(b), ackedMs: Number(c) });
    else if (kind === "d") this.delivered.set(Number(a), Number(b));
    else this.#lines.push(line);
    this.#wake?.();
  }

  send(line: string): void {
    this.#child.stdin!.write(`${line}\n`);
  }

  /** The next control line, which must start with `word` (an "x ..." line is the child's failure). */
  async next(word: string): Promise<string> {
    await this.until(() => this.#lines.length > 0);
    const line = this.#lines.shift()!;
    if (!line.startsWith(word)) throw new Error(`expected "${word}" from the role process, got "${line}"`);
    return line;
  }

  async until(done: () => boolean): Promise<void> {
    const deadline = performance.now() + STEP_TIMEOUT_MS;
    while (!done()) {
      if (this.#exited) throw new Error(`the role process exited early${this.#lines.length > 0 ? `: ${this.#lines.join(" | ")}` : ""}`);
      const leftMs = deadline - performance.now();
      if (leftMs <= 0) throw new Error("a role process did not answer in time");
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, Math.min(leftMs, 1000));
      });
      this.#wake = undefined;
    }
  }

  async stop(): Promise<void> {
    if (this.#exited) return;
    this.send("exit");
    const killer = setTimeout(() => this.#child.kill("SIGKILL"), 10_000);
    await this.until(() => this.#exited).catch(() => this.#child.kill("SIGKILL"));
    clearTimeout(killer);
  }
}

// -------------------------------------------------------------------------------------------------
// The role processes
// -------------------------------------------------------------------------------------------------

/** Runs the role named after ROLE_FLAG in argv; never returns. */
export async function runRole(argv: readonly string[]): Promise<never> {
  const at = argv.indexOf(ROLE_FLAG);
  const role = argv[at + 1];
  const config = JSON.parse(argv[at + 2] ?? "{}") as Record<string, unknown>;
  const print = (line: string) => process.stdout.write(`${line}\n`);
  try {
    if (role === "follow-writer") await writerRole(config as { store: RoleStore; flushIntervalMs: number }, print);
    else if (role === "follow-reader") await readerRole(config as { store: RoleStore; pollIntervalMs: number }, print);
    else throw new Error(`unknown role ${role}`);
    process.exit(0);
  } catch (error) {
    print(`x ${error instanceof Error ? error.message.replace(/\n/g, " ") : String(error)}`);
    process.exit(3);
  }
}

async function* commands(): AsyncGenerator<string[]> {
  for await (const line of createInterface({ input: process.stdin })) {
    const words = line.split(" ");
    if (words[0] === "exit") return;
    yield words;
  }
}

async function writerRole(config: { store: RoleStore; flushIntervalMs: number }, print: (line: string) => void): Promise<void> {
  const log = await openLog({ store: openRoleStore(config.store), flushIntervalMs: config.flushIntervalMs });
  try {
    const stream = await log.openStream(STREAM, { createIfMissing: true });
    await stream.append([{ body: "warm-up" }]);
    print("ready");
    for await (const [command, count, intervalMs] of commands()) {
      if (command !== "go") continue;
      const startMs = performance.now();
      const acks: Promise<void>[] = [];
      for (let i = 0; i < Number(count); i++) {
        const waitMs = startMs + i * Number(intervalMs) - performance.now();
        if (waitMs > 0) await sleep(waitMs);
        const sentMs = epochMs();
        acks.push(stream.append([{ body: `record ${i}` }]).then((ack) => print(`a ${ack.start.seqNum} ${sentMs} ${epochMs()}`)));
      }
      await Promise.all(acks);
      print("sent");
    }
  } finally {
    await log.close();
  }
}

async function readerRole(config: { store: RoleStore; pollIntervalMs: number }, print: (line: string) => void): Promise<void> {
  const log = await openLog({ store: openRoleStore(config.store), readOnly: true, pollIntervalMs: config.pollIntervalMs });
  const abort = new AbortController();
  try {
    const stream = await log.openStream(STREAM);
    const session = stream.read({ from: { seqNum: 1 }, clamp: true, follow: true, signal: abort.signal });
    const reading = (async () => {
      for await (const record of session) print(`d ${record.seqNum} ${epochMs()}`);
    })();
    await session.caughtUp();
    print("following");
    for await (const [command, ms] of commands()) {
      if (command !== "idle") continue;
      const before = log.metrics().engine.storeRequests;
      const startMs = performance.now();
      await sleep(Number(ms));
      const after = log.metrics().engine.storeRequests;
      const seconds = (performance.now() - startMs) / 1000;
      const rate = (key: "get" | "head" | "list" | "put") => (after[key] - before[key]) / seconds;
      print(`idle ${JSON.stringify({ idleGetPerSec: rate("get"), idleHeadPerSec: rate("head"), idleListPerSec: rate("list"), idlePutPerSec: rate("put") })}`);
    }
    abort.abort();
    await reading;
  } finally {
    await log.close();
  }
}
