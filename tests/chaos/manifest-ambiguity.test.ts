/**
 * Found by the history soak (issue 16): a manifest write whose PUT landed but whose answer was
 * lost until storeRetryDeadlineMs fails with outcome unknown; a manifest change queued behind it
 * in the same epoch then wrote the same id, met our own manifest there, and the engine took it
 * for a bug (InternalError "conflicted within our own epoch") and closed the log for good. An
 * unknown manifest outcome must end the epoch instead: the engine recovers and goes on.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import { Engine } from "../../src/engine/engine.js";
import { FaultyStore } from "../../src/store/faulty-store.js";
import { MemoryStore } from "../../src/store/memory-store.js";

it("a manifest change queued behind one whose outcome is unknown does not close the engine; it recovers", async () => {
  const faulty = new FaultyStore(new MemoryStore());
  const engine = await Engine.open(faulty, { flushIntervalMs: 0, storeRetryDeadlineMs: 60, gcIntervalMs: 1_000_000, checkCreateOnly: false });
  try {
    let landed: Uint8Array | undefined;
    faulty.addFault({
      effect: "lose_response",
      when: (call) => {
        if (call.kind !== "put" || !call.key.startsWith("manifest/") || landed !== undefined) return false;
        landed = call.body;
        return true;
      },
    });
    // Every retry of that same write fails until the deadline: its outcome stays unknown.
    faulty.addFault({
      effect: "fail",
      when: (call) => call.kind === "put" && landed !== undefined && call.body !== undefined && Buffer.from(call.body).equals(Buffer.from(landed)),
      times: Number.POSITIVE_INFINITY,
    });
    const epoch = engine.epoch!;
    const first = engine.updateManifest(epoch, (m) => ({ ...m }));
    const second = engine.updateManifest(epoch, (m) => ({ ...m, nextRunId: m.nextRunId + 1 }));
    const outcomes = await Promise.allSettled([first, second]);
    const codes = outcomes.map((o) => (o.status === "fulfilled" ? "ok" : String((o.reason as { code?: unknown }).code)));
    assert.equal(codes[0], "storage", "the first write's outcome is unknown");
    assert.notEqual(codes[1], "internal", `the queued write must not be taken for a bug: ${codes[1]}`);
    faulty.clearFaults();
    const seq = await waitForWrite(engine);
    assert.ok(seq > 0, "the engine recovered and writes again");
  } finally {
    await engine.close().catch(() => undefined);
  }
});

async function waitForWrite(engine: Engine): Promise<number> {
  for (let i = 0; i < 200; i++) {
    try {
      const seq = engine.write([{ type: "put", key: Buffer.from("k"), value: Buffer.from("v") }]);
      await engine.whenDurable(seq);
      return seq;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === "closed" || code === "internal") throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  return 0;
}
