/**
 * The line of frozen memtables waiting for their L0 flush has a limit in count, not only in
 * bytes: with a small `l0SstBytes`, the byte cap (256 MiB) alone let a writer on a slow store
 * pile up a hundred 4 KiB memtables, and the writer's close (which flushes them, one L0 each)
 * took more than 10 s on S3 (issue 16's soak, "history on s3"); a reopened writer replaying
 * such a backlog took as long to publish its first L0.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { SST_PREFIX } from "../../src/engine/paths.js";
import { MAX_FROZEN_MEMTABLES } from "../../src/limits.js";
import { openLog } from "../../src/log.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import { GatedStore } from "../helpers/gated-store.js";

const RECORDS = 400;
const BODY = "x".repeat(300);
const body = (i: number) => `${i} ${BODY}`;

test(`writers wait once ${MAX_FROZEN_MEMTABLES} frozen memtables wait for their L0, and go on when it is written`, async () => {
  const gated = new GatedStore(new MemoryStore());
  const options = { flushIntervalMs: 0, l0SstBytes: 4096 } as const;
  const log = await openLog({ store: gated, ...options });
  const stream = await log.openStream("s", { createIfMissing: true });
  const firstSst = gated.hold((call) => call.kind === "put" && call.key.startsWith(SST_PREFIX));
  let appended = 0;
  const writer = (async () => {
    for (let i = 0; i < RECORDS; i++) {
      await stream.append([{ body: body(i) }]);
      appended++;
    }
  })();
  await firstSst.reached;
  // The writer either finishes (no limit) or stops at the limit: wait, bounded, for one of them.
  for (let waitedMs = 0; waitedMs < 20_000 && appended < RECORDS && log.metrics().engine.backpressureWaits === 0; waitedMs += 5) await sleep(5);
  const engine = log.metrics().engine;
  assert.ok(engine.frozenMemtables <= MAX_FROZEN_MEMTABLES, `${engine.frozenMemtables} frozen memtables wait for one L0 (${appended} of ${RECORDS} appends acked)`);
  assert.ok(appended < RECORDS && engine.backpressureWaits > 0, "the writer went on past the limit");

  await firstSst.release();
  await writer;
  assert.equal(appended, RECORDS);
  await log.close();
  const reopened = await openLog({ store: gated, ...options });
  const bodies: string[] = [];
  for await (const record of (await reopened.openStream("s")).read({ from: { seqNum: 0 } })) bodies.push(Buffer.from(record.body).toString());
  assert.deepEqual(bodies, Array.from({ length: RECORDS }, (_, i) => body(i)));
  await reopened.close();
});
