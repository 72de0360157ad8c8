/**
 * `durastream serve` as a child process on a LocalStore: an SDK producer appends through it
 * (an s2s append session and unary appends at once) while the server is SIGKILLed; after a
 * restart every append the SDK saw acknowledged is there, record for record. And SIGTERM is a
 * graceful shutdown: exit 0, with everything acknowledged durable.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AppendInput, AppendRecord, S2 } from "@s2-dev/streamstore";
import { spawnTsx, type TsxChild } from "../helpers/child-process.js";
import { makeTempDir } from "../helpers/temp-dir.js";

const BASIN = "kill-test-basin";

async function startServe(storeUrl: string, flags: string[] = []): Promise<{ child: TsxChild; s2: S2 }> {
  const child = spawnTsx("src/cli/main.ts", ["serve", "--store", storeUrl, "--port", "0", ...flags]);
  const line = await child.waitForLine((l) => l.includes("listening on"));
  const url = /listening on (\S+)/.exec(line)![1]!;
  const s2 = new S2({ accessToken: "t", endpoints: { account: url, basin: url }, retry: { maxAttempts: 1 } });
  return { child, s2 };
}

describe("durastream serve as a child process", { timeout: 120_000 }, () => {
  it("after a SIGKILL while an SDK producer appends, every append the SDK saw acknowledged is there", async () => {
    const url = `file://${await makeTempDir("serve-kill")}`;
    const first = await startServe(url, ["--wal-datasync", "thread-pool"]); // the restart below uses the default, inline
    await first.s2.basins.create({ basin: BASIN });
    const basin = first.s2.basin(BASIN);
    await basin.streams.create({ stream: "session" });
    await basin.streams.create({ stream: "unary" });
    const acked = new Map<string, { end: number; bodies: Map<number, string> }>([
      ["session", { end: 0, bodies: new Map() }],
      ["unary", { end: 0, bodies: new Map() }],
    ]);
    const note = (name: string, start: number, bodies: string[]) => {
      const entry = acked.get(name)!;
      bodies.forEach((b, i) => entry.bodies.set(start + i, b));
      entry.end = Math.max(entry.end, start + bodies.length);
    };
    let stop = false;
    const sessionProducer = (async () => {
      const session = await basin.stream("session").appendSession();
      const pending: Promise<void>[] = [];
      for (let i = 0; !stop; i++) {
        const bodies = [`s${i}a`, `s${i}b`];
        const ticket = await session.submit(AppendInput.create(bodies.map((body) => AppendRecord.string({ body })))).catch(() => undefined);
        if (ticket === undefined) break;
        pending.push(ticket.ack().then((ack) => note("session", ack.start.seqNum, bodies), () => undefined));
        if (pending.length > 32) await pending.shift();
      }
      await Promise.allSettled(pending);
    })();
    const unaryProducer = (async () => {
      for (let i = 0; !stop; i++) {
        const bodies = [`u${i}`];
        const ack = await basin.stream("unary").append(AppendInput.create([AppendRecord.string({ body: bodies[0]! })])).catch(() => undefined);
        if (ack === undefined) break;
        note("unary", ack.start.seqNum, bodies);
      }
    })();
    while (acked.get("session")!.end < 200 || acked.get("unary")!.end < 20) await new Promise((resolve) => setTimeout(resolve, 10));
    await first.child.kill();
    stop = true;
    await Promise.all([sessionProducer, unaryProducer]);

    const second = await startServe(url);
    try {
      for (const [name, entry] of acked) {
        const stream = second.s2.basin(BASIN).stream(name, { forceTransport: "fetch" });
        const tail = (await stream.checkTail()).tail.seqNum;
        assert.ok(tail >= entry.end, `${name}: tail ${tail} is below the acknowledged end ${entry.end}`);
        const found = new Map<number, string>();
        for (let seq = 0; seq < entry.end; ) {
          const batch = await stream.read({ start: { from: { seqNum: seq } }, stop: { limits: { count: 1000 } } });
          for (const r of batch.records) found.set(r.seqNum, r.body);
          seq = batch.records.at(-1)!.seqNum + 1;
        }
        for (const [seq, body] of entry.bodies) assert.equal(found.get(seq), body, `${name} record ${seq}`);
      }
    } finally {
      second.child.process.kill("SIGTERM");
      assert.equal((await second.child.exited).code, 0, second.child.stderr());
    }
  });

  it("examples/s2-sdk.ts (the README's example) appends, reads and follows through the SDK", async () => {
    const child = spawnTsx("examples/s2-sdk.ts", []);
    const exit = await child.exited;
    assert.equal(exit.code, 0, child.stderr());
    assert.deepEqual(child.lines, ["appended 0..2, durable", "hello world", "session: 0 hello", "session: 1 world"]);
  });

  it("SIGTERM ends the server gracefully: exit 0, and appends acknowledged before it are there after a restart", async () => {
    const url = `file://${await makeTempDir("serve-term")}`;
    const first = await startServe(url);
    await first.s2.basins.create({ basin: BASIN });
    const stream = first.s2.basin(BASIN).stream("s", { forceTransport: "fetch" });
    await first.s2.basin(BASIN).streams.create({ stream: "s" });
    const ack = await stream.append(AppendInput.create([AppendRecord.string({ body: "kept" })]));
    first.child.process.kill("SIGTERM");
    assert.equal((await first.child.exited).code, 0, first.child.stderr());
    const second = await startServe(url);
    try {
      const batch = await second.s2.basin(BASIN).stream("s").read({ start: { from: { seqNum: ack.start.seqNum } } });
      assert.deepEqual(batch.records.map((r) => r.body), ["kept"]);
    } finally {
      second.child.process.kill("SIGTERM");
      await second.child.exited;
    }
  });
});
