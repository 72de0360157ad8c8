/**
 * Issue 6, third required test: a reader started while the writer is down (crashed, closed or
 * gone quiet) reads everything durable; then a new writer opens, fencing the old one, and
 * appends more; the same reader, without restarting, delivers the new records to its
 * followers in order, with no gap and no duplicate, across the change of writer epoch.
 *
 *   - On LocalStore with processes: a writer child (fixtures/follow-writer.ts) is SIGKILLed in
 *     the middle of its appends; the parent opens a read-only log, checks every acked record
 *     is there, starts following, then opens writer 2 (small L0s, eager GC) and writer 3
 *     (which fences writer 2 while it is still open).
 *   - In process on a MemoryStore and a ManualClock: the first writer closed cleanly, or was
 *     left open and quiet (a writer process that hangs), before the reader opened.
 */
import { MANIFEST_LIST_INTERVAL_MS } from "../../src/limits.js";
import assert from "node:assert/strict";
import path from "node:path";
import { describe, it } from "node:test";
import { LocalStore, ManualClock, MemoryStore, openLog, recordText, type Log, type LogOptions, type ReadSession, type Stream } from "../../src/index.js";
import { REPO_ROOT, spawnTsx } from "../helpers/child-process.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { FOLLOW_STREAMS, WRITER_LOG_OPTIONS, bodyOf, parseAcks } from "./fixtures/follow-workload.js";
import { CountingStore, collect, seqTexts } from "./reader-helpers.js";

const WRITER = path.join(REPO_ROOT, "tests/readers/fixtures/follow-writer.ts");
/** A follower that gets nothing for this long has stalled: it ends, and the test reports what it got. */
const STALL_MS = 5000;

/** The workload's records 0..count-1 of `stream`, as "seqNum:body". */
function expectedRecords(stream: string, count: number): string[] {
  return Array.from({ length: count }, (_, seqNum) => `${seqNum}:${bodyOf(stream, seqNum)}`);
}

/**
 * Follows `stream` from seqNum 0 in the background. `until(count)` resolves once `count` records
 * arrived (then ends the session) or once the session ended by itself (stalled or failed).
 */
function followFromZero(stream: Stream, idleMs: number): { records: string[]; until(count: number): Promise<string[]> } {
  const controller = new AbortController();
  const records: string[] = [];
  let target = Number.POSITIVE_INFINITY;
  const session: ReadSession = stream.read({ from: { seqNum: 0 }, follow: true, waitMs: idleMs, signal: controller.signal });
  const done = (async () => {
    for await (const record of session) {
      records.push(`${record.seqNum}:${recordText(record)}`);
      if (records.length >= target) controller.abort();
    }
  })();
  return {
    records,
    until: async (count) => {
      target = count;
      if (records.length >= target) controller.abort();
      await done;
      return records;
    },
  };
}

/** Appends `appends` batches continuing the workload at the stream's tail (matchSeqNum guards it); returns the new tail. */
async function appendWorkload(stream: Stream, appends: number): Promise<number> {
  let next = (await stream.checkTail()).seqNum;
  for (let i = 0; i < appends; i++) {
    const records = Array.from({ length: 3 }, (_, j) => ({ body: bodyOf(stream.name, next + j) }));
    next = (await stream.append(records, { matchSeqNum: next })).end.seqNum;
  }
  return next;
}

describe("a reader started while the writer is down", () => {
  it("on LocalStore: after a writer process was killed, reads every acked record, then follows two new writers (the second fencing the first) without restarting", { timeout: 60_000 }, async () => {
    const root = await makeTempDir("readers-down");
    const child = spawnTsx(WRITER, [`file:${root}`, "600000", "1000000"]);
    await child.waitForLine((line) => line === "ready");
    child.send("go");
    await child.waitForLine((line) => line.startsWith("a alpha ") && Number(line.split(" ")[3]) >= 120);
    const exit = await child.kill();
    assert.equal(exit.signal, "SIGKILL", `the writer exited by itself; stderr:\n${child.stderr()}`);
    const acks = parseAcks(child.lines);

    const readerStore = new CountingStore(new LocalStore(root));
    const reader = await openLog({ store: readerStore, readOnly: true, pollIntervalMs: 20 });
    const writers: Log[] = [];
    try {
      const followers = new Map<string, ReturnType<typeof followFromZero>>();
      for (const name of FOLLOW_STREAMS) {
        const stream = await reader.openStream(name);
        const tail = (await stream.checkTail()).seqNum;
        const lastAcked = acks[name].at(-1)?.end ?? 0;
        assert.ok(tail >= lastAcked, `${name}: the reader's tail ${tail} is before the last acked end ${lastAcked}`);
        assert.deepEqual(seqTexts(await collect(stream.read({ from: { seqNum: 0 } }))), expectedRecords(name, tail), `${name}: what the reader read first`);
        followers.set(name, followFromZero(stream, STALL_MS));
      }

      const writer2 = await openLog({ store: new LocalStore(root), ...WRITER_LOG_OPTIONS });
      writers.push(writer2);
      for (const name of FOLLOW_STREAMS) {
        const stream = await writer2.openStream(name);
        assert.equal((await stream.checkTail()).seqNum, (await (await reader.openStream(name)).checkTail()).seqNum, `${name}: writer 2 recovered another tail than the reader saw`);
        await appendWorkload(stream, 40);
      }
      assert.ok(writer2.metrics().engine.l0Flushes > 0, "precondition: writer 2 flushed L0s (and collected WAL objects) while the reader followed");

      const writer3 = await openLog({ store: new LocalStore(root), takeover: true });
      writers.push(writer3);
      // Writer 2 may already have met writer 3's manifest in a background flush and closed as
      // fenced, so that even openStream fails: either way its write must fail with "fenced".
      await assert.rejects(async () => (await writer2.openStream("alpha")).append([{ body: "from a fenced writer" }]), { code: "fenced" });
      const finalTails = new Map<string, number>();
      for (const name of FOLLOW_STREAMS) finalTails.set(name, await appendWorkload(await writer3.openStream(name), 5));

      for (const name of FOLLOW_STREAMS) {
        const got = await followers.get(name)!.until(finalTails.get(name)!);
        assert.deepEqual(got, expectedRecords(name, finalTails.get(name)!), `${name}: what the follower delivered across three writers`);
      }
      assert.equal(reader.health().status, "ok");
      assert.equal(reader.metrics().engine.followErrors, 0);
      assert.deepEqual(readerStore.mutations, []);
    } finally {
      await reader.close();
      for (const writer of writers) await writer.close().catch(() => undefined);
    }
  });

  for (const down of ["closed", "left open and quiet"] as const) {
    it(`in process: the first writer ${down}, a reader reads everything, then follows a new writer that fences it`, async () => {
      const store = new MemoryStore();
      const clock = new ManualClock({ startMs: 1_700_000_000_000 });
      const writerOptions: LogOptions = { store, clock, flushIntervalMs: 0, l0SstBytes: 2048, gcIntervalMs: 0, gcGraceMs: 0 };
      const first = await openLog(writerOptions);
      const firstStream = await first.openStream("alpha", { createIfMissing: true });
      const firstTail = await appendWorkload(firstStream, 30);
      if (down === "closed") await first.close();

      const reader = await openLog({ store, clock, readOnly: true, pollIntervalMs: 10 });
      const second = await openLog({ ...writerOptions, takeover: true }); // fences the first on purpose
      try {
        const rs = await reader.openStream("alpha");
        assert.deepEqual(seqTexts(await collect(rs.read({ from: { seqNum: 0 } }))), expectedRecords("alpha", firstTail));
        const follower = followFromZero(rs, 60_000);
        const secondStream = await second.openStream("alpha");
        // No poll meanwhile: the writer flushes, compacts and collects (old manifests included)
        // while the reader sleeps, and the reader must find its way from where it was.
        const finalTail = await appendWorkload(secondStream, 30);
        if (down !== "closed") await assert.rejects(firstStream.append([{ body: "zombie" }]), { code: "fenced" });
        // A reader behind the writer's GC finds the newest manifest by a LIST, which runs at most
        // every MANIFEST_LIST_INTERVAL_MS while polls come up empty: give it that long.
        for (let waitedMs = 0; waitedMs <= MANIFEST_LIST_INTERVAL_MS + 100 && follower.records.length < finalTail; waitedMs += 100) await clock.advance(100);
        assert.equal(follower.records.length, finalTail, `the follower has ${follower.records.length} of ${finalTail} records`);
        assert.deepEqual(await follower.until(finalTail), expectedRecords("alpha", finalTail));
        assert.equal(reader.metrics().engine.writerEpoch, second.metrics().engine.writerEpoch, "the reader adopted the new writer's manifest");
      } finally {
        await reader.close();
        await second.close();
        if (down !== "closed") await first.close().catch(() => undefined);
      }
    });
  }
});
