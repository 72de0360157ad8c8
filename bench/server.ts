/**
 * `durastream serve` beside in-process appends, on the same kind of store (LocalStore, fsync):
 * what the S2 API server costs. The server runs as a child process (`durastream serve`), the
 * S2 TypeScript SDK drives it from this process; the in-process cases use the library here.
 * Each case: a warm-up, then a timed window of closed-loop writers; latency is from the call
 * (or the submit) to its ack. Results and method: bench/README.md ("Server").
 *
 * The mixed cases run a busy writer and readers against one server at a time, once with each
 * `--wal-datasync`: the group commit's fdatasync on the server's event loop (inline, the default)
 * or on the thread pool, where the loop keeps serving requests meanwhile.
 *
 *   npx tsx bench/server.ts [--seconds 5] [--record-bytes 100] [--filter TEXT]
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { AppendInput, AppendRecord, BatchTransform, Producer, S2, type S2Stream } from "@s2-dev/streamstore";
import { openLog, type Log, type Stream } from "../src/index.js";
import { LatencyRecorder } from "./lib/stats.js";

const args = process.argv.slice(2);
const flag = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
};
const SECONDS = Number(flag("seconds", "5"));
const WARMUP_MS = 1000;
const RECORD_BYTES = Number(flag("record-bytes", "100"));
const FILTER = flag("filter", "");
const BODY = "x".repeat(RECORD_BYTES);
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

interface Result {
  id: string;
  records: number;
  seconds: number;
  latency: LatencyRecorder;
}

/** Runs `writers` closed loops of `step` (each returns records acked) for the warm-up and the window. */
async function closedLoop(id: string, writers: number, step: (latency: LatencyRecorder | undefined) => Promise<number>): Promise<Result> {
  const latency = new LatencyRecorder();
  const start = performance.now();
  const windowStart = start + WARMUP_MS;
  const end = windowStart + SECONDS * 1000;
  let records = 0;
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        const n = await step(undefined);
        const t1 = performance.now();
        if (t0 >= windowStart && t1 <= end) {
          latency.add(t1 - t0);
          records += n;
        }
      }
    }),
  );
  return { id, records, seconds: SECONDS, latency };
}

/** A session: `inflight` batches of `batchRecords` records in flight, latency per batch from submit to ack. */
async function pipelined(id: string, inflight: number, submit: () => Promise<{ ack: Promise<unknown> }>, batchRecords: number): Promise<Result> {
  const latency = new LatencyRecorder();
  const windowStart = performance.now() + WARMUP_MS;
  const end = windowStart + SECONDS * 1000;
  let records = 0;
  const pending = new Set<Promise<void>>();
  while (performance.now() < end) {
    const t0 = performance.now();
    const { ack } = await submit();
    const done = ack.then(() => {
      const t1 = performance.now();
      if (t0 >= windowStart && t1 <= end) {
        latency.add(t1 - t0);
        records += batchRecords;
      }
    });
    pending.add(done);
    void done.finally(() => pending.delete(done));
    if (pending.size >= inflight) await Promise.race(pending);
  }
  await Promise.all(pending);
  return { id, records, seconds: SECONDS, latency };
}

async function startServe(storeUrl: string, extraArgs: string[] = []): Promise<{ url: string; stop: () => Promise<void> }> {
  const args = ["--import", "tsx", "src/cli/main.ts", "serve", "--store", storeUrl, "--port", "0", ...extraArgs];
  const child = spawn(process.execPath, args, { cwd: REPO, stdio: ["ignore", "pipe", "inherit"] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on (\S+)/.exec(out);
      if (match !== null) resolve(match[1]!);
    });
    child.once("exit", (code) => reject(new Error(`durastream serve exited with ${code}`)));
  });
  return {
    url,
    stop: async () => {
      child.kill("SIGTERM");
      await new Promise((resolve) => child.once("exit", resolve));
    },
  };
}

/** Readers in the mixed cases, and how many of the last records each read takes. */
const MIXED_READERS = 8;
const MIXED_READ_RECORDS = 10;

/** Readers beside a busy writer on one server: what the group commit's fdatasync on the server's event loop costs the reads. */
async function mixed(id: string, storeDir: string, walDatasync: "inline" | "thread-pool"): Promise<Result[]> {
  const server = await startServe(`file://${storeDir}`, ["--wal-datasync", walDatasync]);
  try {
    const s2 = new S2({ accessToken: "bench", endpoints: { account: server.url, basin: server.url } });
    await s2.basins.create({ basin: "mixed-basin" });
    await s2.basin("mixed-basin").streams.create({ stream: "mixed" });
    const viaFetch: S2Stream = s2.basin("mixed-basin").stream("mixed", { forceTransport: "fetch" });
    const viaS2s: S2Stream = s2.basin("mixed-basin").stream("mixed", { forceTransport: "s2s" });
    const batch = () => AppendInput.create(Array.from({ length: 100 }, () => AppendRecord.string({ body: BODY })));
    await viaFetch.append(batch()); // readers always find records
    const session = await viaS2s.appendSession();
    const readInput = { start: { from: { tailOffset: MIXED_READ_RECORDS } }, stop: { limits: { count: MIXED_READ_RECORDS } } };
    const [appends, reads] = await Promise.all([
      pipelined(`${id}: append session (SDK, s2s), 100-record batches, 16 in flight`, 16, async () => ({ ack: (await session.submit(batch())).ack() }), 100),
      closedLoop(`${id}: ${MIXED_READERS} readers of the last ${MIXED_READ_RECORDS} records (SDK, fetch; records/s read)`, MIXED_READERS, async () => (await viaFetch.read(readInput)).records.length),
    ]);
    await session.close();
    return [appends, reads];
  } finally {
    await server.stop();
  }
}

function row(r: Result): string {
  const s = r.latency.summary();
  const rate = Math.round(r.records / r.seconds);
  return `| ${r.id} | ${rate.toLocaleString("en-US")} | ${s.p50Ms.toFixed(2)} | ${s.p99Ms.toFixed(2)} |`;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "durastream-bench-server-"));
  const results: Result[] = [];
  const want = (id: string): boolean => FILTER === "" || id.includes(FILTER);
  let log: Log | undefined;
  const server = await startServe(`file://${path.join(dir, "served")}`);
  try {
    log = await openLog({ store: `file://${path.join(dir, "inproc")}` });
    const inproc: Stream = await log.openStream("bench", { createIfMissing: true });
    const s2 = new S2({ accessToken: "bench", endpoints: { account: server.url, basin: server.url } });
    await s2.basins.create({ basin: "bench-basin" });
    await s2.basin("bench-basin").streams.create({ stream: "bench" });
    const viaFetch: S2Stream = s2.basin("bench-basin").stream("bench", { forceTransport: "fetch" });
    const viaS2s: S2Stream = s2.basin("bench-basin").stream("bench", { forceTransport: "s2s" });
    const one = [{ body: BODY }];
    const hundred = Array.from({ length: 100 }, () => ({ body: BODY }));
    const sdkOne = () => AppendInput.create([AppendRecord.string({ body: BODY })]);
    const sdkHundred = () => AppendInput.create(hundred.map(() => AppendRecord.string({ body: BODY })));

    for (const writers of [1, 64]) {
      const a = `in-process append, ${writers} writer${writers > 1 ? "s" : ""}`;
      if (want(a)) results.push(await closedLoop(a, writers, async () => (await inproc.append(one), 1)));
      const b = `server unary append (SDK, fetch), ${writers} writer${writers > 1 ? "s" : ""}`;
      if (want(b)) results.push(await closedLoop(b, writers, async () => (await viaFetch.append(sdkOne()), 1)));
    }
    const c = "in-process append session, 100-record batches, 16 in flight";
    if (want(c)) {
      const session = inproc.appendSession();
      results.push(await pipelined(c, 16, async () => ({ ack: (await session.submit(hundred)).ack() }), 100));
      await session.close();
    }
    const d = "server append session (SDK, s2s), 100-record batches, 16 in flight";
    if (want(d)) {
      const session = await viaS2s.appendSession();
      results.push(await pipelined(d, 16, async () => ({ ack: (await session.submit(sdkHundred())).ack() }), 100));
      await session.close();
    }
    const e = "server Producer (SDK, s2s), per record, 5000 in flight";
    if (want(e)) {
      const producer = new Producer(new BatchTransform({ lingerDurationMillis: 5 }), await viaS2s.appendSession());
      results.push(await pipelined(e, 5000, async () => ({ ack: (await producer.submit(AppendRecord.string({ body: BODY }))).ack() }), 1));
      await producer.close();
    }
  } finally {
    await log?.close();
    await server.stop();
  }
  try {
    for (const walDatasync of ["inline", "thread-pool"] as const) {
      const id = `mixed, walDatasync ${walDatasync}`;
      if (want(id)) results.push(...(await mixed(id, path.join(dir, `mixed-${walDatasync}`), walDatasync)));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  console.log(`\n${RECORD_BYTES}-byte records, ${SECONDS} s window after ${WARMUP_MS} ms warm-up, LocalStore (fsync) in ${os.tmpdir()}; latency per call (a batch for sessions, a record for the Producer)\n`);
  console.log("| case | records/s | p50 ack ms | p99 ack ms |");
  console.log("|---|---:|---:|---:|");
  for (const r of results) console.log(row(r));
}

await main();
