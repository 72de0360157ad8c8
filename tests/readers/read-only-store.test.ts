/**
 * Issue 6, second required test: a read-only log never changes a byte in the store, and every
 * write method of a read-only log rejects with code "read_only" (outcome "not_applied") without
 * touching the store.
 *
 * The store is prepared by a writer with small L0s and eager GC, so it holds everything a reader
 * meets: manifests, WAL fences, WAL objects after the replay point (a writer's close does not
 * flush its memtable), L0 SSTs and sorted runs, a trimmed stream and a deleted one. Then, with
 * no writer running, a read-only session opens, reads every stream every way, follows until
 * idle, checks tails, lists streams and closes. Before and after, every key is listed with a
 * checksum of its bytes (for LocalStore, every file and directory under the root as the file
 * system sees it, so a temp file left behind counts too); the two must be identical, and the
 * reader's store must have seen no put and no delete.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { LocalStore, MemoryStore, ReadOnlyError, hasCode, inspectStore, openLog, type Log, type ObjectStore } from "../../src/index.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { createTestBucket, openStoreSpec, removeTestBucket, s3ConnectionFromEnv } from "../helpers/test-stores.js";
import { CountingStore, collect, seqTexts, snapshotDir, snapshotStore } from "./reader-helpers.js";

/** Fills `store` with streams in every state a reader can meet, then closes the writer. */
async function prepareStore(store: ObjectStore): Promise<void> {
  const writer = await openLog({ store, flushIntervalMs: 2, l0SstBytes: 1536, gcIntervalMs: 0, gcGraceMs: 0 });
  try {
    const alpha = await writer.openStream("alpha", { createIfMissing: true });
    for (let i = 0; i < 30; i++) await alpha.append(Array.from({ length: 10 }, (_, j) => ({ body: `alpha-${i}-${j}`.padEnd(80, "."), headers: [["i", String(i)]] })));
    const beta = await writer.openStream("beta", { createIfMissing: true });
    for (let i = 0; i < 20; i += 4) await beta.append(Array.from({ length: 4 }, (_, j) => ({ body: `beta-${i + j}` })));
    await beta.trim(10);
    const gamma = await writer.openStream("gamma", { createIfMissing: true });
    await gamma.append([{ body: "gone" }]);
    await writer.deleteStream("gamma");
    await alpha.append([{ body: "last, in the WAL only" }]);
    assert.ok(writer.metrics().engine.l0Flushes > 0 && writer.metrics().engine.compactions > 0, "precondition: the store holds L0s and sorted runs");
  } finally {
    await writer.close();
  }
}

/** Everything a reader does, on a log opened read-only on `store`; returns what it read. */
async function readOnlySession(store: ObjectStore): Promise<Record<string, string[]>> {
  const log = await openLog({ store, readOnly: true, pollIntervalMs: 10 });
  const read: Record<string, string[]> = {};
  try {
    assert.deepEqual((await log.listStreams()).map((info) => info.name), ["alpha", "beta"]);
    assert.deepEqual((await log.listStreams({ prefix: "b" })).map((info) => info.name), ["beta"]);
    for (const name of ["alpha", "beta"]) {
      const stream = await log.openStream(name, { createIfMissing: true }); // exists: no write needed
      const tail = await stream.checkTail();
      const all = await collect(stream.read({ from: { seqNum: 0 } }));
      read[name] = seqTexts(all);
      assert.equal(all.at(-1)?.seqNum, tail.seqNum - 1);
      assert.deepEqual(seqTexts(await collect(stream.read({ from: { timestamp: all[0]!.timestamp } }))), read[name]);
      assert.deepEqual(seqTexts(await collect(stream.read({ from: { tailOffset: 3 } }))), read[name]!.slice(-3));
      const followed = await collect(stream.read({ from: { seqNum: 0 }, follow: true, waitMs: 100 }));
      assert.deepEqual(seqTexts(followed), read[name]);
    }
    await assert.rejects(log.openStream("gamma"), { code: "stream_not_found" });
    assert.equal(log.health().readOnly, true);
  } finally {
    await log.close();
  }
  return read;
}

function assertSameSnapshot(before: Map<string, string>, after: Map<string, string>): void {
  const changed = [...new Set([...before.keys(), ...after.keys()])].filter((key) => before.get(key) !== after.get(key));
  assert.deepEqual(changed.map((key) => `${key}: ${before.get(key) ?? "absent"} -> ${after.get(key) ?? "absent"}`), [], "the read-only session changed the store");
  assert.ok(before.size > 10, `precondition: the store held ${before.size} entries`);
}

describe("a read-only log never writes", () => {
  it("never changes a byte of a LocalStore root: every file and directory is the same after a whole read-only session", async () => {
    const root = await makeTempDir("readers-untouched");
    await prepareStore(new LocalStore(root));
    const before = await snapshotDir(root);
    const store = new CountingStore(new LocalStore(root));
    const read = await readOnlySession(store);
    assert.deepEqual(store.mutations, []);
    assertSameSnapshot(before, await snapshotDir(root));
    assert.equal(read.alpha?.length, 301);
    assert.deepEqual(read.beta?.map((line) => Number(line.split(":")[0])), Array.from({ length: 11 }, (_, i) => 10 + i), "beta reads from its trim point");
  });

  it("fails with not_found on a missing root behind a wrapper that forwards localRoot, and creates nothing (issue 13.8)", async () => {
    const parent = await makeTempDir("ro-missing");
    const local = new LocalStore(join(parent, "no-such-dir"));
    const wrapper: ObjectStore = {
      get: (key, options) => local.get(key, options),
      head: (key) => local.head(key),
      put: (key, body, options) => local.put(key, body, options),
      delete: (key) => local.delete(key),
      list: (prefix, options) => local.list(prefix, options),
      localRoot: local.localRoot,
      description: `wrapped(${local.description})`,
    };
    const opening = openLog({ store: wrapper, readOnly: true }).then(async (log) => log.close()); // an open that succeeds must not hang the file
    await assert.rejects(opening, (error: unknown) => hasCode(error, "not_found") && /no-such-dir does not exist/.test(String(error)));
    await assert.rejects(inspectStore(wrapper), (error: unknown) => hasCode(error, "not_found"));
    assert.deepEqual(await readdir(parent), [], "nothing was created");
  });

  it("opens an empty LocalStore root read-only without creating anything in it", async () => {
    const root = await makeTempDir("readers-empty");
    const store = new CountingStore(new LocalStore(root));
    const log = await openLog({ store, readOnly: true, pollIntervalMs: 10 });
    assert.deepEqual(await log.listStreams(), []);
    await assert.rejects(log.openStream("s"), { code: "stream_not_found" });
    await log.close();
    assert.deepEqual(store.mutations, []);
    assert.deepEqual([...(await snapshotDir(root)).keys()], []);
  });

  const connection = s3ConnectionFromEnv();
  if (connection === undefined) {
    it("on S3Store", { skip: "S3_ENDPOINT IS NOT SET: read-only sessions WERE NOT CHECKED FOR WRITES ON S3 (`bash scripts/s3-test-server.sh env` prints it)" }, () => {});
  } else {
    describe("on S3Store (local gateway)", () => {
      let bucket = "";
      before(async () => {
        bucket = await createTestBucket(connection, "readers-untouched");
      });
      after(() => removeTestBucket(connection, bucket));
      it("never changes an object: every key and its bytes are the same after a whole read-only session", async () => {
        const spec = `s3:${bucket}/untouched`;
        const writerStore = openStoreSpec(spec);
        await prepareStore(writerStore);
        const before = await snapshotStore(writerStore);
        const store = new CountingStore(openStoreSpec(spec));
        await readOnlySession(store);
        assert.deepEqual(store.mutations, []);
        assertSameSnapshot(before, await snapshotStore(writerStore));
        await store.close();
        await writerStore.close?.();
      });
    });
  }

  it("rejects every write method with read_only (outcome not_applied), never synchronously, and writes nothing", async () => {
    const memory = new MemoryStore();
    const writer = await openLog({ store: memory, flushIntervalMs: 0 });
    const ws = await writer.openStream("s", { createIfMissing: true });
    await ws.append([{ body: "only" }]);
    const store = new CountingStore(memory);
    const reader: Log = await openLog({ store, readOnly: true, pollIntervalMs: 10 });
    try {
      const rs = await reader.openStream("s");
      const readOnly = (error: unknown): boolean => {
        assert.ok(error instanceof ReadOnlyError, `expected a ReadOnlyError, got ${String(error)}`);
        assert.equal(error.code, "read_only");
        assert.equal(error.outcome, "not_applied");
        assert.equal(error.retryable, false);
        return true;
      };
      await assert.rejects(() => rs.append([{ body: "no" }]), readOnly);
      await assert.rejects(() => rs.append([{ body: "no" }], { matchSeqNum: 1 }), readOnly);
      const session = rs.appendSession();
      await assert.rejects(() => session.submit([{ body: "no" }]), readOnly);
      await session.close();
      await assert.rejects(() => rs.fence("token"), readOnly);
      await assert.rejects(() => rs.trim(1), readOnly);
      await assert.rejects(() => reader.createStream("t"), readOnly);
      await assert.rejects(() => reader.createStream("s"), readOnly);
      await assert.rejects(() => reader.reconfigureStream("s", { retention: "infinite" }), readOnly);
      await assert.rejects(() => reader.deleteStream("s"), readOnly);
      await assert.rejects(() => reader.openStream("missing", { createIfMissing: true }), readOnly);
      assert.deepEqual(store.mutations, []);
      // Nothing changed, for the reader or the writer.
      assert.deepEqual((await reader.listStreams()).map((info) => info.name), ["s"]);
      assert.deepEqual(seqTexts(await collect(rs.read({ from: { seqNum: 0 } }))), ["0:only"]);
      assert.deepEqual(await rs.checkTail(), await ws.checkTail());
      assert.equal(reader.health().status, "ok", "a refused write does not harm the reader");
    } finally {
      await reader.close();
      await writer.close();
    }
  });
});
