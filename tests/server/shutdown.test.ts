/**
 * Graceful shutdown with an s2s append session open and appends held in the store: the appends
 * in flight are acknowledged, the session then ends with a terminal 503 `server_draining`
 * (after which a client may resubmit exactly what was not acknowledged), and what the log holds
 * afterwards is exactly what was acknowledged.
 */
import assert from "node:assert/strict";
import * as http2 from "node:http2";
import { describe, it } from "node:test";
import { MemoryStore, openLog } from "../../src/index.js";
import { startServer } from "../../src/server/index.js";
import { decodeAppendAck, encodeAppendInput } from "../../src/server/protobuf.js";
import { FrameDecoder, encodeFrame } from "../../src/server/s2s-framing.js";
import { GatedStore } from "../helpers/gated-store.js";

const BASIN = "shutdown-basin";

function unary(client: http2.ClientHttp2Session, method: string, path: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = client.request({ ":method": method, ":path": path, "content-type": "application/json", "s2-basin": BASIN });
    req.on("response", (h) => resolve(Number(h[":status"])));
    req.on("error", reject);
    req.resume();
    req.end(body);
  });
}

describe("durastream serve shutdown", { timeout: 30_000 }, () => {
  it("acknowledges the appends in flight, then ends the append session with server_draining; the log holds exactly what was acked", async () => {
    const memory = new MemoryStore();
    const gated = new GatedStore(memory);
    const server = await startServer({ store: gated, port: 0 });
    const client = http2.connect(server.url);
    try {
      assert.equal(await unary(client, "POST", "/v1/basins", JSON.stringify({ basin: BASIN })), 201);
      assert.equal(await unary(client, "POST", "/v1/streams", JSON.stringify({ stream: "s" })), 201);
      const gate = gated.hold((call) => call.kind === "put" && call.key.startsWith("wal/"));
      const session = client.request({ ":method": "POST", ":path": "/v1/streams/s/records", "content-type": "s2s/proto", "s2-basin": BASIN });
      const frames: { terminal: boolean; body: Uint8Array }[] = [];
      const decoder = new FrameDecoder();
      session.on("data", (chunk: Buffer) => {
        // Terminal frames carry a status and JSON, which the decoder returns as their body.
        frames.push(...decoder.push(chunk));
      });
      const ended = new Promise<void>((resolve) => session.once("end", () => resolve()));
      for (let i = 0; i < 3; i++) session.write(encodeFrame(encodeAppendInput({ records: [{ body: new Uint8Array([i]) }, { body: new Uint8Array([i, i]) }] })));
      await gate.reached;
      const closing = server.close();
      await gate.release();
      await ended;
      await closing;

      const acks = frames.filter((f) => !f.terminal).map((f) => decodeAppendAck(f.body));
      const terminal = frames.at(-1)!;
      assert.equal(terminal.terminal, true);
      assert.equal(Buffer.from(terminal.body).readUInt16BE(0), 503);
      assert.equal(JSON.parse(Buffer.from(terminal.body.subarray(2)).toString()).code, "server_draining");
      assert.ok(acks.length >= 1, "the append held in the store was acknowledged");
      acks.forEach((ack, i) => assert.equal(ack.start.seqNum, 2 * i));

      const log = await openLog({ store: memory });
      try {
        const tail = await (await log.openStream(`${BASIN}/s`)).checkTail();
        assert.equal(tail.seqNum, acks.at(-1)!.end.seqNum, "the log holds exactly the acknowledged appends");
      } finally {
        await log.close();
      }
    } finally {
      client.destroy();
      await server.close();
    }
  });
});
