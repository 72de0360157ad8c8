/**
 * The ObjectStore conformance suite: one set of behaviours, run against every implementation
 * (MemoryStore, LocalStore, S3Store, and FaultyStore around each). A store that passes it is
 * safe for the engine to build on.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { ObjectStore } from "../../src/store/object-store.js";

export interface StoreUnderTest {
  store: ObjectStore;
  /** Removes what the store created (directories, buckets). */
  cleanup?: () => Promise<void>;
}

export interface SuiteOptions {
  /** Keys to write for the multi-page list test (S3 pages at 1000). */
  manyKeys?: number;
}

export function runStoreSuite(name: string, open: () => Promise<StoreUnderTest>, options: SuiteOptions = {}): void {
  const manyKeys = options.manyKeys ?? 1100;
  describe(`ObjectStore conformance: ${name}`, () => {
    let subject: StoreUnderTest;
    let store: ObjectStore;
    let n = 0;
    const fresh = (label: string) => `t${++n}-${label}`;

    before(async () => {
      subject = await open();
      store = subject.store;
    });
    after(async () => {
      await store.close?.();
      await subject.cleanup?.();
    });

    it("round-trips empty, small and 16 MiB objects", async () => {
      for (const size of [0, 1, 100, 16 * 1024 * 1024]) {
        const key = fresh(`rt-${size}`);
        const body = randomBytes(size);
        const { etag } = await store.put(key, body);
        assert.ok(typeof etag === "string" && etag.length > 0);
        const got = await store.get(key);
        assert.equal(got.length, size);
        assert.ok(Buffer.from(got).equals(body), `bytes differ for size ${size}`);
        const info = await store.head(key);
        assert.equal(info.size, size);
        assert.equal(info.etag, etag);
      }
    });

    it("reads ranges at the start, middle and end, and refuses ranges past the end", async () => {
      const key = fresh("range");
      const body = randomBytes(1000);
      await store.put(key, body);
      const expect = (offset: number, length: number | undefined, want: Buffer) =>
        store.get(key, length === undefined ? { offset } : { offset, length }).then((got) => {
          assert.ok(Buffer.from(got).equals(want), `range ${offset}+${length}`);
        });
      await expect(0, 10, body.subarray(0, 10));
      await expect(500, 100, body.subarray(500, 600));
      await expect(990, 10, body.subarray(990, 1000));
      await expect(990, undefined, body.subarray(990));
      await expect(0, undefined, body);
      await expect(1000, 0, Buffer.alloc(0));
      await assert.rejects(store.get(key, { offset: 995, length: 10 }), { code: "invalid_range" });
      await assert.rejects(store.get(key, { offset: 1001 }), { code: "invalid_range" });
      await assert.rejects(store.get(key, { offset: 2000, length: 1 }), { code: "invalid_range" });
    });

    it("getInto, when the store has it, reads a range into the caller's buffer with get's errors (the engine's stores forward it)", async (t) => {
      const getInto = store.getInto?.bind(store);
      if (getInto === undefined) {
        t.skip("this store has no getInto: the engine reads it with get");
        return;
      }
      const key = fresh("into");
      const body = randomBytes(1000);
      await store.put(key, body);
      const into = new Uint8Array(64 * 1024).fill(0xee);
      for (const [offset, length] of [[0, 10], [500, 100], [990, 10], [0, 1000], [1000, 0]] as const) {
        const got = await getInto(key, { offset, length }, into);
        assert.equal(got.buffer, into.buffer, "a view of the given buffer");
        assert.equal(got.byteOffset, into.byteOffset);
        assert.ok(Buffer.from(got).equals(body.subarray(offset, offset + length)), `range ${offset}+${length}`);
      }
      assert.equal(into[1000], 0xee, "nothing written past the range");
      await assert.rejects(getInto(key, { offset: 995, length: 10 }, into), { code: "invalid_range" });
      await assert.rejects(getInto(fresh("into-missing"), { offset: 0, length: 1 }, into), { code: "not_found" });
      await assert.rejects(getInto(key, { offset: 0, length: 100 }, new Uint8Array(99)), { code: "validation" });
    });

    it("throws not_found for a missing key on get, ranged get and head", async () => {
      const key = fresh("missing");
      await assert.rejects(store.get(key), { code: "not_found" });
      await assert.rejects(store.get(key, { offset: 0, length: 1 }), { code: "not_found" });
      await assert.rejects(store.head(key), { code: "not_found" });
    });

    it("deletes idempotently", async () => {
      const key = fresh("del");
      await store.put(key, Buffer.from("x"));
      await store.delete(key);
      await assert.rejects(store.get(key), { code: "not_found" });
      await store.delete(key);
      await store.delete(fresh("never-written"));
    });

    it("overwrites with a plain put and changes the etag", async () => {
      const key = fresh("over");
      const first = await store.put(key, Buffer.from("one"));
      const second = await store.put(key, Buffer.from("two!"));
      assert.notEqual(first.etag, second.etag);
      assert.equal(Buffer.from(await store.get(key)).toString(), "two!");
    });

    it("keeps stored bytes safe from callers mutating their arrays", async () => {
      const key = fresh("copy");
      const body = Buffer.from("abcdef");
      await store.put(key, body);
      body.fill(0);
      const got = await store.get(key);
      assert.equal(Buffer.from(got).toString(), "abcdef");
      got.fill(1);
      assert.equal(Buffer.from(await store.get(key)).toString(), "abcdef");
    });

    it("lists by prefix in key order, with startAfter", async () => {
      const prefix = fresh("list/");
      const keys = ["b", "a", "c/1", "c/2", "d"].map((k) => prefix + k);
      for (const key of keys) await store.put(key, Buffer.from(key));
      await store.put(prefix.slice(0, -1) + "x/other", Buffer.from("not in prefix"));
      const all = [];
      for await (const entry of store.list(prefix)) all.push(entry);
      assert.deepEqual(
        all.map((e) => e.key),
        [...keys].sort(),
      );
      assert.deepEqual(
        all.map((e) => e.size),
        [...keys].sort().map((k) => Buffer.byteLength(k)),
      );
      const afterB = [];
      for await (const entry of store.list(prefix, { startAfter: prefix + "b" })) afterB.push(entry.key);
      assert.deepEqual(afterB, [prefix + "c/1", prefix + "c/2", prefix + "d"]);
      const sub = [];
      for await (const entry of store.list(prefix + "c/")) sub.push(entry.key);
      assert.deepEqual(sub, [prefix + "c/1", prefix + "c/2"]);
      const none = [];
      for await (const entry of store.list(fresh("empty-prefix/"))) none.push(entry.key);
      assert.deepEqual(none, []);
    });

    it(`lists more keys than one page (${manyKeys})`, async () => {
      const prefix = fresh("many/");
      const keys = Array.from({ length: manyKeys }, (_, i) => `${prefix}${String(i).padStart(6, "0")}`);
      const limit = 32;
      for (let i = 0; i < keys.length; i += limit) {
        await Promise.all(keys.slice(i, i + limit).map((key) => store.put(key, new Uint8Array(1))));
      }
      const listed = [];
      for await (const entry of store.list(prefix)) listed.push(entry.key);
      assert.equal(listed.length, keys.length);
      assert.deepEqual(listed, keys);
      const tail = [];
      for await (const entry of store.list(prefix, { startAfter: keys[manyKeys - 5] })) tail.push(entry.key);
      assert.deepEqual(tail, keys.slice(manyKeys - 4));
    });

    it("lets exactly one of 16 concurrent create-only puts win", async () => {
      for (let round = 0; round < 3; round++) {
        const key = fresh("race");
        const results = await Promise.allSettled(
          Array.from({ length: 16 }, (_, i) => store.put(key, Buffer.from(`writer ${i}`), { ifNoneMatch: "*" })),
        );
        const winners = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
        assert.equal(winners.length, 1, `round ${round}: ${winners.length} winners`);
        for (const r of results) {
          if (r.status === "rejected") assert.equal((r.reason as { code?: string }).code, "precondition_failed");
        }
        assert.equal(Buffer.from(await store.get(key)).toString(), `writer ${winners[0]}`);
      }
    });

    it("allows a create-only put after a delete", async () => {
      const key = fresh("recreate");
      await store.put(key, Buffer.from("1"), { ifNoneMatch: "*" });
      await assert.rejects(store.put(key, Buffer.from("2"), { ifNoneMatch: "*" }), { code: "precondition_failed" });
      await store.delete(key);
      await store.put(key, Buffer.from("3"), { ifNoneMatch: "*" });
      assert.equal(Buffer.from(await store.get(key)).toString(), "3");
    });

    it("compare-and-swaps with ifMatch: the current etag wins, a stale one and a missing key fail", async () => {
      const key = fresh("cas");
      const first = await store.put(key, Buffer.from("v1"));
      const second = await store.put(key, Buffer.from("v2"), { ifMatch: first.etag });
      await assert.rejects(store.put(key, Buffer.from("v3"), { ifMatch: first.etag }), { code: "precondition_failed" });
      assert.equal(Buffer.from(await store.get(key)).toString(), "v2");
      const third = await store.put(key, Buffer.from("v4"), { ifMatch: second.etag });
      assert.equal((await store.head(key)).etag, third.etag);
      await assert.rejects(store.put(fresh("cas-missing"), Buffer.from("x"), { ifMatch: first.etag }), {
        code: "precondition_failed",
      });
    });

    it("lets exactly one of 8 concurrent compare-and-swaps with the same etag win", async () => {
      const key = fresh("cas-race");
      const { etag } = await store.put(key, Buffer.from("base"));
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) => store.put(key, Buffer.from(`cas ${i}`), { ifMatch: etag })),
      );
      const winners = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
      assert.equal(winners.length, 1);
      for (const r of results) {
        if (r.status === "rejected") assert.equal((r.reason as { code?: string }).code, "precondition_failed");
      }
      assert.equal(Buffer.from(await store.get(key)).toString(), `cas ${winners[0]}`);
    });

    it("never shows a reader a partial object while a writer replaces it", async () => {
      const key = fresh("torn");
      const a = Buffer.alloc(256 * 1024, 0xaa);
      const b = Buffer.alloc(512 * 1024, 0xbb);
      await store.put(key, a);
      let writing = true;
      const writer = (async () => {
        for (let i = 0; i < 20; i++) await store.put(key, i % 2 === 0 ? b : a);
        writing = false;
      })();
      let reads = 0;
      const reader = async () => {
        while (writing) {
          const got = Buffer.from(await store.get(key));
          const expected = got[0] === 0xaa ? a : b;
          assert.ok(got.equals(expected), `torn read: ${got.length} bytes starting ${got[0]}`);
          reads++;
        }
      };
      await Promise.all([writer, reader(), reader()]);
      assert.ok(reads > 0);
    });

    it("refuses empty keys and keys with NUL", async () => {
      await assert.rejects(store.put("", Buffer.from("x")), { code: "invalid_key" });
      await assert.rejects(store.put("a\0b", Buffer.from("x")), { code: "invalid_key" });
      await assert.rejects(store.get("a\0b"), { code: "invalid_key" });
    });
  });
}
