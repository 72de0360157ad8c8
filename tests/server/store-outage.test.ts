/**
 * The server while its store is unreachable (a FaultyStore with the network cut): an append
 * whose outcome is unknown is answered 500 `storage` (never a code S2 clients take for "nothing
 * happened"), new appends are refused 503 `unavailable` with Retry-After while the log
 * recovers, /health says so, and appends succeed again once the store is back.
 */
import assert from "node:assert/strict";
import * as http from "node:http";
import { describe, it } from "node:test";
import { FaultyStore, MemoryStore } from "../../src/index.js";
import { startServer, type S2Server } from "../../src/server/index.js";

const BASIN = "outage-basin";
const headers = { "s2-basin": BASIN, "content-type": "application/json" };

function call(server: S2Server, method: string, path: string, body?: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${server.url}${path}`, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode!, headers: res.headers, json: text === "" ? {} : (JSON.parse(text) as Record<string, unknown>) });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

const appendBody = JSON.stringify({ records: [{ body: "x" }] });

describe("durastream serve while the store is unreachable", { timeout: 60_000 }, () => {
  it("answers 500 storage for an outcome-unknown append, 503 unavailable with Retry-After while recovering, and 200 once healed", async () => {
    const store = new FaultyStore(new MemoryStore());
    const server = await startServer({ store, port: 0, logOptions: { storeRetryDeadlineMs: 200 } });
    try {
      assert.equal((await call(server, "POST", "/v1/basins", JSON.stringify({ basin: BASIN }))).status, 201);
      assert.equal((await call(server, "POST", "/v1/streams", JSON.stringify({ stream: "s" }))).status, 201);
      assert.equal((await call(server, "POST", "/v1/streams/s/records", appendBody)).status, 200);
      store.cut();
      const unknown = await call(server, "POST", "/v1/streams/s/records", appendBody);
      assert.equal(unknown.status, 500);
      assert.equal(unknown.json.code, "storage");
      const refused = await call(server, "POST", "/v1/streams/s/records", appendBody);
      assert.equal(refused.status, 503, JSON.stringify(refused.json));
      assert.equal(refused.json.code, "unavailable");
      assert.equal(refused.headers["retry-after"], "1");
      assert.equal((await call(server, "GET", "/health")).status, 503);
      store.heal();
      const deadline = Date.now() + 30_000;
      for (;;) {
        const reply = await call(server, "POST", "/v1/streams/s/records", appendBody);
        if (reply.status === 200) break;
        assert.equal(reply.status, 503, JSON.stringify(reply.json));
        assert.ok(Date.now() < deadline, "the server did not recover");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.equal((await call(server, "GET", "/health")).status, 200);
    } finally {
      store.heal();
      await server.close();
    }
  });
});
