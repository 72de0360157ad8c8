/**
 * Issue 13.5: a second writer does not take over silently. While a writer is alive on a store,
 * `openLog` refuses with `writer_active` unless `takeover: true`, and so do the CLI's writing
 * commands unless `--takeover`. Liveness: on the same host the lease's pid runs (a crashed
 * writer frees the store at once); elsewhere the lease was renewed within its ttl.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { ManualClock, MemoryStore, WriterActiveError, hasCode, openLog } from "../../src/index.js";
import { WRITER_LEASE_RENEW_MS, WRITER_LEASE_TTL_MS } from "../../src/limits.js";
import { WRITER_LEASE_KEY } from "../../src/writer-lease.js";
import { spawnTsx } from "../helpers/child-process.js";
import { T0 } from "../helpers/stream-helpers.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { cliChild } from "../cli/fixtures/cli-harness.js";

const WRITER = "tests/log/fixtures/lease-writer.ts";

const isWriterActive = (error: unknown) => error instanceof WriterActiveError && hasCode(error, "writer_active") && /--takeover/.test(error.message);

describe("writer lease: no silent takeover (issue 13.5)", { timeout: 60_000 }, () => {
  it("a live writer process: openLog and the CLI's writers refuse; --takeover fences it; its crash frees the store at once", async () => {
    const url = pathToFileURL(await makeTempDir("lease")).href;
    const child = spawnTsx(WRITER, [url]);
    await child.waitForLine((line) => line === "open");
    await assert.rejects(openLog({ store: url }), isWriterActive);
    // Every CLI command that writes: append, create, config with a change, delete, bench.
    const [reader, ...writers] = await Promise.all([
      cliChild(["tail", url, "s"]),
      cliChild(["append", url, "s", "--body", "x"]),
      cliChild(["create", url, "other"]),
      cliChild(["config", url, "s", "--retention", "1d"]),
      cliChild(["delete", url, "s"]),
      cliChild(["bench", url, "--records", "10", "--batch", "10"]),
    ]);
    for (const [i, refused] of writers.entries()) {
      assert.equal(refused.code, 1, `writer ${i}: ${refused.stderr}`);
      assert.match(refused.stderr, /\(code writer_active\)/, `writer ${i}`);
    }
    assert.equal(reader.code, 0, `reading needs no takeover: ${reader.stderr}`);
    const taken = await cliChild(["append", url, "s", "--body", "taken", "--takeover"]);
    assert.equal(taken.code, 0, taken.stderr);
    await child.kill(); // a crash: its pid is gone, and on this host that frees the store at once
    const after = await openLog({ store: url });
    await after.close();
  });

  it("a clean close releases the store at once; a crash of a child does too", async () => {
    const url = pathToFileURL(await makeTempDir("lease-close")).href;
    const clean = spawnTsx(WRITER, [url]);
    await clean.waitForLine((line) => line === "open");
    clean.send("close");
    await clean.waitForLine((line) => line === "closed");
    await (await openLog({ store: url })).close();
  });

  it("in one process: a second writer refuses while the first is open, takes over with takeover: true, and the fenced one stops renewing", async () => {
    const store = new MemoryStore();
    const clock = new ManualClock({ startMs: T0 });
    const first = await openLog({ store, clock });
    await assert.rejects(openLog({ store, clock }), isWriterActive);
    const second = await openLog({ store, clock, takeover: true });
    const leaseOfSecond = await store.get(WRITER_LEASE_KEY);
    await clock.advance(WRITER_LEASE_RENEW_MS * 3);
    const current = JSON.parse(new TextDecoder().decode(await store.get(WRITER_LEASE_KEY))) as { token: string };
    assert.equal(current.token, (JSON.parse(new TextDecoder().decode(leaseOfSecond)) as { token: string }).token, "the first writer never overwrote its successor's lease");
    await first.close();
    await assert.rejects(openLog({ store, clock }), isWriterActive, "the second writer is still alive");
    await second.close();
    const third = await openLog({ store, clock });
    await third.close();
    await assert.rejects(store.get(WRITER_LEASE_KEY), (error: unknown) => hasCode(error, "not_found"));
  });

  it("a lease from another host is alive until its ttl passes without a renewal", async () => {
    const store = new MemoryStore();
    const clock = new ManualClock({ startMs: T0 });
    const elsewhere = { v: 1, token: "t", host: "some-other-host.invalid", pid: 1, renewedAtMs: T0, ttlMs: WRITER_LEASE_TTL_MS };
    await store.put(WRITER_LEASE_KEY, new TextEncoder().encode(JSON.stringify(elsewhere)));
    clock.setNowMs(T0 + WRITER_LEASE_TTL_MS - 1);
    await assert.rejects(openLog({ store, clock }), isWriterActive);
    clock.setNowMs(T0 + WRITER_LEASE_TTL_MS);
    await (await openLog({ store, clock })).close();
  });

  it("a read-only log neither checks nor writes the lease", async () => {
    const store = new MemoryStore();
    const writer = await openLog({ store });
    const reader = await openLog({ store, readOnly: true });
    await reader.close();
    await writer.close();
  });
});
