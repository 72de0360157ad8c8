/**
 * Issue 13, item 11: short-lived writers (a CLI append, a cron job) must not make every later open
 * slower. Each open adds a fence and each writer a few WAL objects or frames; a clean close flushes
 * the memtables once the replay range passes CLOSE_FLUSH_MIN_WAL_IDS, so the next open replays a
 * bounded range however many writers came before. (Before, every open replayed every earlier
 * writer's WAL, and 200 cycles took an open from 70 to 376 ms here.)
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { readLatestManifest } from "../../src/engine/manifest-store.js";
import { WAL_PREFIX, parseId } from "../../src/engine/paths.js";
import { CLOSE_FLUSH_MIN_WAL_IDS } from "../../src/limits.js";
import { openLog } from "../../src/log.js";
import { LocalStore } from "../../src/store/local-store.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import type { ObjectStore } from "../../src/store/object-store.js";
import { makeTempDir } from "../helpers/temp-dir.js";

const CYCLES = CLOSE_FLUSH_MIN_WAL_IDS + 16; // each cycle adds two WAL ids (a fence, an append): past the bound without the fix

async function replayRange(store: ObjectStore): Promise<number> {
  const manifest = (await readLatestManifest(store))!.manifest;
  let highest = 0;
  for await (const entry of store.list(WAL_PREFIX)) highest = Math.max(highest, parseId(WAL_PREFIX, entry.key) ?? 0);
  return highest - manifest.replayAfterWalId;
}

for (const [name, makeStore] of [
  ["MemoryStore (object WAL)", async () => new MemoryStore()],
  ["LocalStore (segment WAL)", async () => new LocalStore(await makeTempDir("short-lived"))],
] as const) {
  test(`issue 13.11 on ${name}: after ${CYCLES} open-append-close cycles the next open replays at most ${CLOSE_FLUSH_MIN_WAL_IDS + 2} WAL ids`, async () => {
    const store = await makeStore();
    let worst = 0;
    for (let i = 0; i < CYCLES; i++) {
      const log = await openLog({ store });
      const stream = await log.openStream("jobs", { createIfMissing: true });
      await stream.append([{ body: `run ${i}` }]);
      await log.close();
      worst = Math.max(worst, await replayRange(store));
    }
    assert.ok(worst <= CLOSE_FLUSH_MIN_WAL_IDS + 2, `a replay range reached ${worst} WAL ids`);
    const log = await openLog({ store });
    const records = [];
    for await (const record of (await log.openStream("jobs")).read({ from: { seqNum: 0 } })) records.push(Buffer.from(record.body).toString());
    assert.deepEqual(records, Array.from({ length: CYCLES }, (_, i) => `run ${i}`));
    await log.close();
  });
}
