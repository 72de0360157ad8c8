/**
 * The raw bounds the engine's durable writes are compared with, on the same records, batches and
 * writer counts, using the same group commit (bench/lib/group-commit.ts):
 *
 *   raw-append-fdatasync   every commit appends the queued frames to one file (writevSync) and
 *                          awaits fs.fdatasync: the physical limit of one log file on this disk.
 *   ideal-local-put        every commit is one LocalStore create-only put of the queued frames
 *                          under `wal/<id>`, one in flight: the best a WAL of one object per
 *                          flush can do on LocalStore (two fsyncs per put: docs/decisions/0001).
 *
 * Neither does anything else (no memtable, no encoding beyond length-prefixed frames), so the
 * engine's ratio to `ideal-local-put` is what its own machinery costs.
 * Registered as case kinds by bench/engine.ts (`npx tsx bench/engine.ts --filter raw/` runs only them).
 */
import { fdatasync, openSync, closeSync, writevSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { walKey } from "../src/engine/paths.js";
import { LocalStore } from "../src/store/local-store.js";
import { GroupCommitter, type CommitSink } from "./lib/group-commit.js";
import { runClosedLoop, writeLoadMetrics } from "./lib/load.js";
import { BatchMaker, encodeFrames, type WriteLoadParams } from "./lib/payload.js";
import type { Metrics } from "./lib/runner.js";

export const RAW_APPEND_KIND = "raw-append-fdatasync";
export const IDEAL_LOCAL_PUT_KIND = "ideal-local-put";

/** Group commit of frames into one file: writevSync, then fdatasync, one commit in flight. */
export async function rawAppendFdatasync(params: WriteLoadParams): Promise<Metrics> {
  return withTempDir(async (dir) => {
    const fd = openSync(path.join(dir, "log"), "a");
    try {
      const sink: CommitSink = (chunks) => {
        writevSync(fd, chunks);
        return new Promise<void>((resolve, reject) => fdatasync(fd, (error) => (error ? reject(error) : resolve())));
      };
      return await groupCommitLoad(params, sink);
    } finally {
      closeSync(fd);
    }
  });
}

/** Group commit of frames into LocalStore create-only puts `wal/<id>`, one in flight. */
export async function idealLocalPut(params: WriteLoadParams): Promise<Metrics> {
  return withTempDir(async (dir) => {
    const store = new LocalStore(path.join(dir, "store"));
    await store.whenSwept();
    let nextId = 1;
    try {
      const sink: CommitSink = async (chunks, totalBytes) => {
        await store.put(walKey(nextId++), Buffer.concat(chunks, totalBytes), { ifNoneMatch: "*" });
      };
      return await groupCommitLoad(params, sink);
    } finally {
      await store.close();
    }
  });
}

async function groupCommitLoad(params: WriteLoadParams, sink: CommitSink): Promise<Metrics> {
  const committer = new GroupCommitter(sink);
  const batches = new BatchMaker(params.valueBytes, params.batchRecords);
  let commitsAtStart = 0;
  let commitsAtEnd = 0;
  const result = await runClosedLoop({
    writers: params.writers,
    warmupMs: params.warmupMs,
    durationMs: params.durationMs,
    operation: (writer) => committer.submit(encodeFrames(batches.next(writer))),
    onWindowStart: () => (commitsAtStart = committer.commits),
    onWindowEnd: () => (commitsAtEnd = committer.commits),
  });
  const metrics = writeLoadMetrics(result, params);
  const commits = commitsAtEnd - commitsAtStart;
  return { ...metrics, commitsPerSec: commits / (result.windowMs / 1000), recordsPerCommit: (result.operations * params.batchRecords) / commits };
}

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), "durastream-bench-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export const rawHandlers = {
  [RAW_APPEND_KIND]: rawAppendFdatasync,
  [IDEAL_LOCAL_PUT_KIND]: idealLocalPut,
};
