/**
 * FaultyStore: each fault on its own (fail the Nth call, fail by predicate, lose the response,
 * latency fixed and drawn, cut and heal, counters), the conformance suite through the wrapper,
 * and the injected Clock and Random it is built on (ManualClock, systemClock, seededRandom).
 *
 * Every timing test runs on a ManualClock: a promise is checked as still pending one millisecond
 * before its latency ends and as settled exactly at it, with no real sleeps.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DurastreamError, StorageError } from "../../src/errors.js";
import { FAULTY_LIST_PAGE_ENTRIES, FAULTY_MAX_TRACKED_ATTEMPT_KEYS } from "../../src/limits.js";
import {
  FaultyStore,
  S3_EXPRESS_LATENCY,
  S3_STANDARD_LATENCY,
  sampleLatencyMs,
  type Latency,
  type StoreCall,
} from "../../src/store/faulty-store.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import { ManualClock, systemClock } from "../../src/util/clock.js";
import { seededRandom, systemRandom } from "../../src/util/random.js";
import { runStoreSuite } from "./conformance.js";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

/** Follows a promise without awaiting it, so a test can ask whether it settled yet. */
function track<T>(promise: Promise<T>) {
  const state: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  promise.then(
    (value) => Object.assign(state, { settled: true, value }),
    (error: unknown) => Object.assign(state, { settled: true, error }),
  );
  return state;
}

function setup(options: ConstructorParameters<typeof FaultyStore>[1] = {}) {
  const inner = new MemoryStore();
  const clock = new ManualClock();
  const store = new FaultyStore(inner, { clock, random: seededRandom(1), ...options });
  return { inner, clock, store };
}

async function listKeys(iterable: AsyncIterable<{ key: string }>): Promise<string[]> {
  const keys = [];
  for await (const entry of iterable) keys.push(entry.key);
  return keys;
}

// ---------------------------------------------------------------------------------------------

describe("ManualClock", () => {
  it("starts at startMs and moves only when advanced", async () => {
    const clock = new ManualClock({ startMs: 1_000 });
    assert.equal(clock.nowMs(), 1_000);
    await clock.advance(250);
    assert.equal(clock.nowMs(), 1_250);
  });

  it("fires a timer exactly when time reaches its due time, not a millisecond before", async () => {
    const clock = new ManualClock();
    let firedAt: number | undefined;
    clock.setTimer(100, () => (firedAt = clock.nowMs()));
    await clock.advance(99);
    assert.equal(firedAt, undefined);
    await clock.advance(1);
    assert.equal(firedAt, 100);
    assert.equal(clock.pendingTimerCount, 0);
  });

  it("fires due timers earliest first, ties in the order they were set, each at its own time", async () => {
    const clock = new ManualClock();
    const fired: string[] = [];
    const at = (label: string) => () => fired.push(`${label}@${clock.nowMs()}`);
    clock.setTimer(30, at("c"));
    clock.setTimer(10, at("a"));
    clock.setTimer(20, at("b1"));
    clock.setTimer(20, at("b2"));
    await clock.advance(25);
    assert.deepEqual(fired, ["a@10", "b1@20", "b2@20"]);
    assert.equal(clock.nowMs(), 25);
    await clock.advance(5);
    assert.deepEqual(fired, ["a@10", "b1@20", "b2@20", "c@30"]);
  });

  it("lets promise chains run between firings, so a loop of sleeps completes within one advance", async () => {
    const clock = new ManualClock();
    const wokeAt: number[] = [];
    const loop = (async () => {
      for (let i = 0; i < 3; i++) {
        await clock.sleep(10);
        await Promise.resolve(); // a longer chain before the next timer is set
        wokeAt.push(clock.nowMs());
      }
    })();
    await clock.advance(30);
    assert.deepEqual(wokeAt, [10, 20, 30]);
    await loop;
  });

  it("fires timers set with delay 0 by runDue, without moving time", async () => {
    const clock = new ManualClock({ startMs: 5 });
    let fired = false;
    clock.setTimer(0, () => (fired = true));
    assert.equal(fired, false, "a timer never fires synchronously");
    await clock.runDue();
    assert.equal(fired, true);
    assert.equal(clock.nowMs(), 5);
  });

  it("does not fire a cancelled timer, and cancelling twice or after firing is harmless", async () => {
    const clock = new ManualClock();
    let fired = 0;
    const cancelled = clock.setTimer(10, () => fired++);
    const kept = clock.setTimer(10, () => fired++);
    cancelled.cancel();
    cancelled.cancel();
    await clock.advance(10);
    assert.equal(fired, 1);
    kept.cancel();
    assert.equal(clock.pendingTimerCount, 0);
  });

  it("rejects a sleep with AbortedError when its signal fires, and removes its timer", async () => {
    const clock = new ManualClock();
    const controller = new AbortController();
    const sleeping = clock.sleep(100, controller.signal);
    assert.equal(clock.pendingTimerCount, 1);
    controller.abort(new Error("caller gave up"));
    await assert.rejects(sleeping, (error: DurastreamError) => {
      assert.equal(error.code, "aborted");
      assert.equal((error.cause as Error).message, "caller gave up");
      return true;
    });
    assert.equal(clock.pendingTimerCount, 0);
    await assert.rejects(clock.sleep(1, AbortSignal.abort()), { code: "aborted" });
  });

  it("jumps the wall clock with setNowMs without firing or moving timers", async () => {
    const clock = new ManualClock({ startMs: 1_000 });
    let firedAt: number | undefined;
    clock.setTimer(50, () => (firedAt = clock.nowMs()));
    clock.setNowMs(500); // backwards, as an NTP step can
    assert.equal(clock.nowMs(), 500);
    await clock.advance(49);
    assert.equal(firedAt, undefined);
    await clock.advance(1);
    assert.equal(firedAt, 550, "the timer fired after 50 ms of elapsed time, on the new wall clock");
  });

  it("refuses negative and NaN delays, and a second advance while one runs", async () => {
    const clock = new ManualClock();
    assert.throws(() => clock.setTimer(-1, () => {}), { code: "validation" });
    assert.throws(() => clock.setTimer(Number.NaN, () => {}), { code: "validation" });
    await assert.rejects(clock.advance(-5), { code: "validation" });
    await assert.rejects(clock.advance(Infinity), { code: "validation" });
    const first = clock.advance(10);
    await assert.rejects(clock.advance(10), { code: "validation" });
    await first;
    assert.equal(clock.nowMs(), 10);
  });

  it("fails an advance loudly when a timer re-arms itself forever", async () => {
    const clock = new ManualClock({ maxFiringsPerAdvance: 50 });
    const rearm = () => void clock.setTimer(0, rearm);
    clock.setTimer(0, rearm);
    await assert.rejects(clock.advance(1), /re-arms itself forever/);
  });
});

describe("systemClock", () => {
  it("reads Date.now()", () => {
    const before = Date.now();
    const now = systemClock.nowMs();
    assert.ok(now >= before && now <= Date.now());
  });

  it("fires timers in due order and never fires a cancelled one", async () => {
    const fired: string[] = [];
    const cancelled = systemClock.setTimer(1, () => fired.push("cancelled"));
    cancelled.cancel();
    await new Promise<void>((resolve) => systemClock.setTimer(5, () => resolve(void fired.push("later"))));
    assert.deepEqual(fired, ["later"]);
  });

  it("rejects a sleep whose signal fires", async () => {
    const controller = new AbortController();
    const sleeping = systemClock.sleep(60_000, controller.signal);
    controller.abort();
    await assert.rejects(sleeping, { code: "aborted" });
  });

  it("chains delays longer than Node's 2^31-1 ms timer limit instead of firing at once", (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    let fired = false;
    const delayMs = 2 ** 31 + 10;
    systemClock.setTimer(delayMs, () => (fired = true));
    t.mock.timers.tick(2 ** 31 - 1);
    assert.equal(fired, false);
    t.mock.timers.tick(10);
    assert.equal(fired, false);
    t.mock.timers.tick(1);
    assert.equal(fired, true);
  });
});

// ---------------------------------------------------------------------------------------------

describe("seededRandom", () => {
  it("gives the same sequence for the same seed, across next, int and bytes", () => {
    const draw = (seed: number) => {
      const random = seededRandom(seed);
      return [random.next(), random.int(1_000), ...random.bytes(7), random.next()];
    };
    assert.deepEqual(draw(12345), draw(12345));
    assert.notDeepEqual(draw(12345), draw(12346));
  });

  it("keeps the sequences recorded seeds depend on (golden values for seed 42)", () => {
    const random = seededRandom(42);
    assert.deepEqual([random.next(), random.next(), random.next()], [0.890780191354953, 0.3220651388711815, 0.6512069328983437]);
    assert.deepEqual(
      Array.from({ length: 8 }, () => random.int(1_000)),
      [622, 658, 571, 310, 183, 748, 872, 408],
    );
    assert.equal(Buffer.from(random.bytes(8)).toString("hex"), "8349958bc4d73bd0");
    assert.equal(seededRandom(42).seed, 42);
  });

  it("uses all 53 bits of the seed and accepts negative seeds", () => {
    const first = (seed: number) => seededRandom(seed).next();
    const seeds = [0, 1, -1, 2 ** 32, 2 ** 40, -(2 ** 40), Number.MAX_SAFE_INTEGER];
    const values = new Set(seeds.map(first));
    assert.equal(values.size, seeds.length, "every seed gives its own stream");
  });

  it("draws floats in [0, 1) and integers uniformly in [0, max)", () => {
    const random = seededRandom(7);
    const buckets = new Array<number>(10).fill(0);
    const draws = 20_000;
    for (let i = 0; i < draws; i++) {
      const x = random.next();
      assert.ok(x >= 0 && x < 1);
      const k = random.int(10);
      assert.ok(Number.isInteger(k) && k >= 0 && k < 10);
      buckets[k] = (buckets[k] as number) + 1;
    }
    // Chi-square with 9 degrees of freedom: 27.9 is the 0.999 quantile. The seed is fixed, so
    // this cannot flake; it fails only if int() is biased.
    const expected = draws / 10;
    const chiSquare = buckets.reduce((sum, n) => sum + (n - expected) ** 2 / expected, 0);
    assert.ok(chiSquare < 27.9, `chi-square ${chiSquare.toFixed(1)} for ${buckets.join(",")}`);
  });

  it("handles the extreme bounds of int and sizes of bytes", () => {
    const random = seededRandom(3);
    for (let i = 0; i < 100; i++) assert.equal(random.int(1), 0);
    const big = random.int(Number.MAX_SAFE_INTEGER);
    assert.ok(Number.isSafeInteger(big) && big >= 0);
    assert.equal(random.bytes(0).length, 0);
    const odd = random.bytes(13);
    assert.equal(odd.length, 13);
    assert.ok(odd.some((b) => b !== 0));
  });

  it("refuses bad seeds, bounds and sizes", () => {
    assert.throws(() => seededRandom(1.5), { code: "validation" });
    assert.throws(() => seededRandom(2 ** 53), { code: "validation" });
    const random = seededRandom(1);
    for (const bound of [0, -1, 1.5, Number.NaN, 2 ** 53]) assert.throws(() => random.int(bound), { code: "validation" });
    assert.throws(() => random.bytes(-1), { code: "validation" });
  });
});

describe("systemRandom", () => {
  it("draws values in range, and two draws of 16 bytes differ", () => {
    for (let i = 0; i < 1_000; i++) {
      const x = systemRandom.next();
      assert.ok(x >= 0 && x < 1);
      const k = systemRandom.int(3);
      assert.ok(k === 0 || k === 1 || k === 2);
    }
    const a = systemRandom.bytes(16);
    assert.equal(a.length, 16);
    assert.notDeepEqual(a, systemRandom.bytes(16));
    assert.throws(() => systemRandom.int(0), { code: "validation" });
  });
});

// ---------------------------------------------------------------------------------------------

describe("FaultyStore: failNth", () => {
  it("fails the Nth call of a kind counted from when the rule is set, once, without touching the inner store", async () => {
    const { inner, store } = setup();
    await store.put("before", bytes("not counted"));
    const rule = store.failNth("put", 2);
    await store.put("a", bytes("1"));
    await store.get("a"); // other kinds do not count
    await assert.rejects(store.put("b", bytes("2")), (error: DurastreamError) => {
      assert.ok(error instanceof StorageError);
      assert.equal(error.code, "storage");
      assert.equal(error.retryable, true);
      assert.equal(error.outcome, "not_applied");
      assert.match(error.message, /injected fault/);
      return true;
    });
    await assert.rejects(inner.head("b"), { code: "not_found" });
    await store.put("c", bytes("3"));
    assert.equal(rule.fired, 1);
    assert.equal(rule.active, false);
  });

  it("fails with the caller's error when one is given", async () => {
    const { store } = setup();
    const custom = new Error("custom failure");
    store.failNth("get", 1, custom);
    await store.put("k", bytes("v"));
    await assert.rejects(store.get("k"), (error) => error === custom);
  });

  it("refuses n below 1", () => {
    const { store } = setup();
    assert.throws(() => store.failNth("put", 0), { code: "validation" });
    assert.throws(() => store.failNth("put", 1.5), { code: "validation" });
  });

  it("lets several rules target the same call: the earliest-added decides, both count it", async () => {
    const { store } = setup();
    const first = store.failNth("put", 1, new Error("first"));
    const second = store.failNth("put", 1, new Error("second"));
    await assert.rejects(store.put("k", bytes("v")), /first/);
    await store.put("k", bytes("v"));
    assert.equal(first.fired, 1);
    assert.equal(second.fired, 1);
  });
});

describe("FaultyStore: failWhen", () => {
  it("fails the next call the predicate accepts (a put under wal/), and only that one by default", async () => {
    const { inner, store } = setup();
    const seen: StoreCall[] = [];
    store.failWhen((call) => {
      seen.push(call);
      return call.kind === "put" && call.key.startsWith("wal/");
    });
    await store.put("manifest/1", bytes("m"));
    await assert.rejects(store.put("wal/1", bytes("w")), { code: "storage", outcome: "not_applied" });
    await store.put("wal/2", bytes("w"));
    assert.equal(inner.size, 2);
    assert.deepEqual(
      seen.map((c) => `${c.kind} ${c.key} #${c.callNumber} a${c.attempt}`),
      ["put manifest/1 #1 a1", "put wal/1 #2 a1"],
      "a retired rule is not asked again",
    );
  });

  it("sees attempts per key, so a test can fail the first two tries of every put and let the third through", async () => {
    const { inner, store } = setup();
    const rule = store.failWhen((call) => call.kind === "put" && call.attempt <= 2, { times: Infinity });
    for (const key of ["x", "y"]) {
      await assert.rejects(store.put(key, bytes("1")), { code: "storage" });
      await assert.rejects(store.put(key, bytes("2")), { code: "storage" });
      await store.put(key, bytes("3"));
      assert.equal(text(await inner.get(key)), "3");
    }
    assert.equal(rule.fired, 4);
    assert.equal(rule.active, true);
    rule.remove();
    assert.equal(rule.active, false);
  });

  it("shows a put's body and condition, so a test can target a zero-byte fence or a create-only put", async () => {
    const { store } = setup();
    store.failWhen((call) => call.body?.length === 0 && call.condition !== undefined && "ifNoneMatch" in call.condition);
    await store.put("wal/1", new Uint8Array(0)); // no condition: passes
    await assert.rejects(store.put("wal/2", new Uint8Array(0), { ifNoneMatch: "*" }), { code: "storage" });
  });

  it("forgets attempts of keys not called among the most recent FAULTY_MAX_TRACKED_ATTEMPT_KEYS", async () => {
    const { store } = setup();
    const attempts: number[] = [];
    store.failWhen((call) => {
      if (call.key === "first") attempts.push(call.attempt);
      return false;
    });
    await store.delete("first");
    await store.delete("first");
    for (let i = 0; i < FAULTY_MAX_TRACKED_ATTEMPT_KEYS; i++) await store.delete(`k${i}`);
    await store.delete("first");
    assert.deepEqual(attempts, [1, 2, 1]);
  });

  it("stops firing after times, and clearFaults removes every rule", async () => {
    const { store } = setup();
    store.failWhen((call) => call.kind === "head", { times: 2 });
    store.failWhen((call) => call.kind === "delete", { times: Infinity });
    await store.put("k", bytes("v"));
    await assert.rejects(store.head("k"), { code: "storage" });
    await assert.rejects(store.head("k"), { code: "storage" });
    await store.head("k");
    await assert.rejects(store.delete("k"), { code: "storage" });
    store.clearFaults();
    await store.delete("k");
  });

  it("can be given at construction", async () => {
    const { store } = setup({ faults: [{ effect: "fail", when: (call) => call.kind === "get", skip: 1 }] });
    await store.put("k", bytes("v"));
    await store.get("k");
    await assert.rejects(store.get("k"), { code: "storage" });
    await store.get("k");
    assert.throws(() => store.addFault({ effect: "fail", when: () => true, times: 0 }), { code: "validation" });
  });
});

describe("FaultyStore: loseResponse", () => {
  it("applies a put to the inner store, then rejects it with outcome unknown", async () => {
    const { inner, store } = setup();
    store.loseResponse("put", 1);
    await assert.rejects(store.put("wal/7", bytes("acked?"), { ifNoneMatch: "*" }), (error: DurastreamError) => {
      assert.equal(error.code, "storage");
      assert.equal(error.outcome, "unknown");
      assert.equal(error.retryable, true);
      assert.match(error.message, /response .* was lost/);
      return true;
    });
    assert.equal(text(await inner.get("wal/7")), "acked?", "the write happened although the caller was told it failed");
    // Why the outcome must be "unknown": a blind create-only retry now loses against itself.
    await assert.rejects(store.put("wal/7", bytes("acked?"), { ifNoneMatch: "*" }), { code: "precondition_failed" });
  });

  it("applies a delete chosen by predicate, then rejects it", async () => {
    const { inner, store } = setup();
    await store.put("sst/1", bytes("a"));
    await store.put("sst/2", bytes("b"));
    store.loseResponse("delete", (call) => call.key === "sst/2");
    await store.delete("sst/1");
    await assert.rejects(store.delete("sst/2"), { code: "storage", outcome: "unknown" });
    assert.equal(inner.size, 0);
  });

  it("loses the response of the Nth put only, counting from when it is set", async () => {
    const { inner, store } = setup();
    store.loseResponse("put", 3);
    await store.put("a", bytes("1"));
    await store.put("b", bytes("2"));
    await assert.rejects(store.put("c", bytes("3")), { code: "storage", outcome: "unknown" });
    await store.put("d", bytes("4"));
    assert.equal(inner.size, 4);
  });

  it("still reports a lost response (with the inner error as cause) when the inner call failed", async () => {
    const { store } = setup();
    await store.put("k", bytes("v"));
    store.loseResponse("put", 1);
    await assert.rejects(store.put("k", bytes("w"), { ifNoneMatch: "*" }), (error: DurastreamError) => {
      assert.equal(error.outcome, "unknown");
      assert.equal((error.cause as DurastreamError).code, "precondition_failed");
      return true;
    });
  });
});

// ---------------------------------------------------------------------------------------------

describe("FaultyStore: latency", () => {
  it("delays a call by a fixed latency on the injected clock, and applies it only then", async () => {
    const { inner, clock, store } = setup({ latency: { put: { fixedMs: 50 } } });
    const put = track(store.put("k", bytes("v")));
    await clock.advance(49);
    assert.equal(put.settled, false);
    await assert.rejects(inner.head("k"), { code: "not_found" }, "not applied before the latency ends");
    await clock.advance(1);
    assert.equal(put.settled, true);
    assert.ok(put.value?.etag);
    assert.equal(text(await inner.get("k")), "v");
  });

  it("resolves each call exactly when the clock passes its drawn log-normal latency", async () => {
    const latency: Latency = { medianMs: 50, p99Ms: 200 };
    const { inner, clock, store } = setup({ random: seededRandom(99), latency: { get: latency } });
    await inner.put("k", bytes("v"));
    const replay = seededRandom(99); // the same draws the store makes, in call order
    const expected = [sampleLatencyMs(latency, replay), sampleLatencyMs(latency, replay), sampleLatencyMs(latency, replay)];
    assert.equal(new Set(expected).size, 3, `distinct draws expected, got ${expected}`);
    const calls = expected.map(() => track(store.get("k")));
    const order = expected.map((ms, i) => ({ ms, i })).sort((a, b) => a.ms - b.ms);
    let now = 0;
    for (const { ms, i } of order) {
      await clock.advance(ms - 1 - now);
      assert.equal(calls[i]?.settled, false, `call ${i} settled before ${ms} ms`);
      await clock.advance(1);
      now = ms;
      assert.equal(calls[i]?.settled, true, `call ${i} not settled at ${ms} ms`);
      assert.equal(text(calls[i]?.value as Uint8Array), "v");
    }
  });

  it("draws log-normal latencies with the asked median and p99, capped at maxMs", () => {
    const random = seededRandom(2024);
    const put = S3_STANDARD_LATENCY.put as Latency;
    const draws = Array.from({ length: 20_000 }, () => sampleLatencyMs(put, random)).sort((a, b) => a - b);
    const median = draws[draws.length / 2] as number;
    const p99 = draws[Math.floor(draws.length * 0.99)] as number;
    assert.ok(median >= 47 && median <= 53, `median ${median}`);
    assert.ok(p99 >= 180 && p99 <= 220, `p99 ${p99}`);
    assert.ok((draws[draws.length - 1] as number) <= 2_000, "default cap is 10 x p99");
    const capped = Array.from({ length: 1_000 }, () => sampleLatencyMs({ medianMs: 50, p99Ms: 200, maxMs: 210 }, random));
    assert.ok(Math.max(...capped) <= 210);
    const express = Array.from({ length: 2_000 }, () => sampleLatencyMs(S3_EXPRESS_LATENCY.put as Latency, random)).sort((a, b) => a - b);
    const expressMedian = express[1_000] as number;
    assert.ok(expressMedian >= 5 && expressMedian <= 10, `express median ${expressMedian}`);
  });

  it("adds no timer for a kind without latency, and setLatency changes the latency of later calls", async () => {
    const { clock, store } = setup({ latency: { put: { fixedMs: 10 } } });
    await assert.rejects(store.get("missing"), { code: "not_found" }, "a get without latency settles with no clock advance");
    assert.equal(clock.pendingTimerCount, 0);
    const put = track(store.put("k", bytes("v")));
    assert.equal(clock.pendingTimerCount, 1);
    await clock.advance(10);
    assert.equal(put.settled, true);
    store.setLatency(undefined);
    await store.put("k2", bytes("v"));
    store.setLatency({ get: { fixedMs: 5 } });
    const get = track(store.get("k"));
    await clock.advance(4);
    assert.equal(get.settled, false);
    await clock.advance(1);
    assert.equal(get.settled, true);
  });

  it("refuses latency models that cannot be drawn", () => {
    const { store } = setup();
    assert.throws(() => store.setLatency({ put: { fixedMs: -1 } }), { code: "validation" });
    assert.throws(() => store.setLatency({ put: { medianMs: 0, p99Ms: 10 } }), { code: "validation" });
    assert.throws(() => store.setLatency({ put: { medianMs: 50, p99Ms: 20 } }), { code: "validation" });
    assert.throws(() => store.setLatency({ put: { medianMs: 50, p99Ms: 200, maxMs: 100 } }), { code: "validation" });
  });

  it("charges a list one latency per page of FAULTY_LIST_PAGE_ENTRIES entries", async () => {
    const { inner, clock, store } = setup({ latency: { list: { fixedMs: 10 } } });
    const total = FAULTY_LIST_PAGE_ENTRIES * 2 + 500;
    for (let i = 0; i < total; i++) await inner.put(`k/${String(i).padStart(5, "0")}`, new Uint8Array(0));
    const listing = track(listKeys(store.list("k/")));
    await clock.advance(29);
    assert.equal(listing.settled, false, "three pages cost 30 ms");
    await clock.advance(1);
    assert.equal(listing.settled, true);
    assert.equal((listing.value as string[]).length, total);
  });
});

// ---------------------------------------------------------------------------------------------

describe("FaultyStore: cut and heal", () => {
  it("fails every call while cut as an unreachable store would, without touching the inner store", async () => {
    const { inner, store } = setup();
    await store.put("k", bytes("v"));
    store.cut();
    assert.equal(store.isCut, true);
    await assert.rejects(store.put("new", bytes("x")), (error: DurastreamError) => {
      assert.ok(error instanceof StorageError);
      assert.equal(error.retryable, true);
      assert.equal(error.outcome, "unknown");
      assert.match(error.message, /unreachable/);
      return true;
    });
    await assert.rejects(store.delete("k"), { code: "storage", outcome: "unknown" });
    await assert.rejects(store.get("k"), /unreachable/);
    await assert.rejects(store.head("k"), /unreachable/);
    await assert.rejects(listKeys(store.list("")), /unreachable/);
    assert.deepEqual(await listKeys(inner.list("")), ["k"], "the put never arrived and the delete never ran");
    store.heal();
    assert.equal(store.isCut, false);
    await store.put("new", bytes("x"));
    assert.equal(text(await store.get("new")), "x");
  });

  it("fails calls already waiting on their latency when the cut comes, once that latency ends", async () => {
    const { inner, clock, store } = setup({ latency: { put: { fixedMs: 100 } } });
    const inFlight = track(store.put("wal/1", bytes("w")));
    await clock.advance(50);
    store.cut();
    await clock.advance(49);
    assert.equal(inFlight.settled, false, "it fails when its latency ends, not at the cut");
    await clock.advance(1);
    assert.equal(inFlight.settled, true);
    assert.equal((inFlight.error as DurastreamError).code, "storage");
    assert.equal((inFlight.error as DurastreamError).outcome, "unknown");
    await assert.rejects(inner.head("wal/1"), { code: "not_found" });
  });

  it("fails a call whose latency window saw a cut even when the network healed before it ended", async () => {
    const { inner, clock, store } = setup({ latency: { put: { fixedMs: 100 } } });
    const crossed = track(store.put("a", bytes("1")));
    await clock.advance(10);
    store.cut();
    await clock.advance(10);
    store.heal();
    const afterHeal = track(store.put("b", bytes("2")));
    await clock.advance(80);
    assert.match(String(crossed.error), /unreachable/);
    await clock.advance(20);
    assert.equal(afterHeal.error, undefined);
    assert.deepEqual(await listKeys(inner.list("")), ["b"]);
  });

  it("fails a listing between pages when the cut comes in the middle of it", async () => {
    const { inner, store } = setup();
    for (let i = 0; i < FAULTY_LIST_PAGE_ENTRIES + 10; i++) await inner.put(`k/${String(i).padStart(5, "0")}`, new Uint8Array(0));
    const seen: string[] = [];
    await assert.rejects(async () => {
      for await (const entry of store.list("k/")) {
        seen.push(entry.key);
        if (seen.length === 10) store.cut();
      }
    }, /unreachable/);
    assert.equal(seen.length, FAULTY_LIST_PAGE_ENTRIES, "the first page was already delivered; the second never came");
  });

  it("can start cut, and a cut overrides fault rules", async () => {
    const { inner, store } = setup({ cut: true });
    const rule = store.loseResponse("put", 1);
    await assert.rejects(store.put("k", bytes("v")), /unreachable/);
    assert.equal(inner.size, 0, "a cut call never reaches the inner store, lost-response rule or not");
    assert.equal(rule.fired, 1);
  });
});

describe("FaultyStore: counters and transparency", () => {
  it("counts calls, injected failures and inner errors per kind, and reset() zeroes them", async () => {
    const { store } = setup();
    store.failNth("put", 2);
    await store.put("a", bytes("1"));
    await assert.rejects(store.put("b", bytes("2")), { code: "storage" });
    await assert.rejects(store.get("missing"), { code: "not_found" });
    await store.get("a");
    await listKeys(store.list(""));
    store.cut();
    await assert.rejects(store.delete("a"), { code: "storage" });
    store.heal();
    assert.deepEqual(store.counters(), {
      calls: { get: 2, head: 0, put: 2, delete: 1, list: 1 },
      failures: { get: 0, head: 0, put: 1, delete: 1, list: 0 },
      innerErrors: { get: 1, head: 0, put: 0, delete: 0, list: 0 },
    });
    const snapshot = store.counters();
    store.reset();
    assert.equal(snapshot.calls.put, 2, "a snapshot does not change afterwards");
    assert.deepEqual(store.counters().calls, { get: 0, head: 0, put: 0, delete: 0, list: 0 });
    const numbers: number[] = [];
    store.failWhen((call) => {
      numbers.push(call.callNumber);
      return false;
    });
    await store.put("c", bytes("3"));
    assert.deepEqual(numbers, [1], "call numbers restart after reset");
  });

  it("passes inner errors through unchanged and describes itself by the store it wraps", async () => {
    const { store } = setup();
    assert.equal(store.description, "faulty(memory://)");
    await assert.rejects(store.get("k", { offset: 0, length: 1 }), { code: "not_found" });
    await store.put("k", bytes("abc"));
    await assert.rejects(store.get("k", { offset: 2, length: 5 }), { code: "invalid_range" });
    await assert.rejects(store.put("", bytes("x")), { code: "invalid_key" });
    assert.equal(text(await store.get("k", { offset: 1, length: 1 })), "b");
  });
});

runStoreSuite("FaultyStore(MemoryStore) without faults", async () => ({ store: new FaultyStore(new MemoryStore()) }));

// The same suite with real, seeded, reordering latencies: concurrent calls overtake each other,
// and every guarantee (one create-only winner, no torn reads) must still hold.
runStoreSuite(
  "FaultyStore(MemoryStore) with 1-8 ms log-normal latency on the system clock",
  async () => ({
    store: new FaultyStore(new MemoryStore(), {
      clock: systemClock,
      random: seededRandom(5),
      latency: Object.fromEntries(["get", "head", "put", "delete", "list"].map((kind) => [kind, { medianMs: 2, p99Ms: 8 }])),
    }),
  }),
  { manyKeys: 1100 },
);

