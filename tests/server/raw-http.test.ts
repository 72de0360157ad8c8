/**
 * What an SDK never sends, over plain HTTP/1.1 and HTTP/2: malformed JSON and protobuf, a bad
 * s2s frame, a body over the limit, a missing or wrong token, unknown routes, a client that
 * stops reading a session, and a client that disconnects in the middle of an append.
 */
import assert from "node:assert/strict";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { after, before, describe, it } from "node:test";
import { MemoryStore } from "../../src/index.js";
import { startServer, type S2Server } from "../../src/server/index.js";
import { encodeAppendInput, decodeAppendAck } from "../../src/server/protobuf.js";

const TOKEN = "secret-token";
const BASIN = "raw-http-basin";

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function request(server: S2Server, method: string, path: string, options: { headers?: Record<string, string>; body?: Uint8Array | string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${server.url}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, ...options.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

function json(reply: Reply): { code?: string; message?: string } & Record<string, unknown> {
  return JSON.parse(reply.body.toString()) as { code?: string };
}

const streamHeaders = { "s2-basin": BASIN, "content-type": "application/json" };

let server: S2Server;
before(async () => {
  server = await startServer({ store: new MemoryStore(), port: 0, accessToken: TOKEN, maxBodyBytes: 1024 * 1024, drainTimeoutMs: 300, heartbeatMs: 100 });
  assert.equal((await request(server, "POST", "/v1/basins", { body: JSON.stringify({ basin: BASIN }) })).status, 201);
  assert.equal((await request(server, "POST", "/v1/streams", { headers: streamHeaders, body: JSON.stringify({ stream: "s" }) })).status, 201);
});
after(async () => {
  await server.close();
});

describe("raw HTTP against durastream serve", () => {
  it("GET /health needs no token; everything else answers 401 authn without one or with a wrong one", async () => {
    assert.equal((await request(server, "GET", "/health", { headers: { authorization: "" } })).status, 200);
    const missing = await request(server, "GET", "/v1/basins", { headers: { authorization: "" } });
    assert.equal(missing.status, 401);
    assert.equal(json(missing).code, "authn");
    const wrong = await request(server, "GET", "/v1/basins", { headers: { authorization: "Bearer secret-tokem" } });
    assert.equal(wrong.status, 401);
    assert.equal((await request(server, "GET", "/metrics", { headers: { authorization: "" } })).status, 401);
  });

  it("answers malformed JSON with 400 bad_json and a bad record with 422 invalid", async () => {
    const bad = await request(server, "POST", "/v1/streams/s/records", { headers: streamHeaders, body: "{not json" });
    assert.equal(bad.status, 400);
    assert.equal(json(bad).code, "bad_json");
    const empty = await request(server, "POST", "/v1/streams/s/records", { headers: streamHeaders, body: JSON.stringify({ records: [] }) });
    assert.equal(empty.status, 422);
    assert.equal(json(empty).code, "invalid");
    const base64 = await request(server, "POST", "/v1/streams/s/records", { headers: { ...streamHeaders, "s2-format": "base64" }, body: JSON.stringify({ records: [{ body: "%%%" }] }) });
    assert.equal(base64.status, 422);
  });

  it("answers malformed protobuf with 400 bad_proto, and a valid one with a protobuf ack", async () => {
    const headers = { "s2-basin": BASIN, "content-type": "application/protobuf", accept: "application/protobuf" };
    const bad = await request(server, "POST", "/v1/streams/s/records", { headers, body: new Uint8Array([0x0a, 0x05, 0x01]) });
    assert.equal(bad.status, 400);
    assert.equal(json(bad).code, "bad_proto");
    const good = await request(server, "POST", "/v1/streams/s/records", { headers, body: encodeAppendInput({ records: [{ body: new Uint8Array([1, 2]) }] }) });
    assert.equal(good.status, 200);
    const ack = decodeAppendAck(good.body);
    assert.equal(ack.end.seqNum - ack.start.seqNum, 1);
  });

  it("answers a body over the limit with 413 before reading all of it", async () => {
    const big = "x".repeat(1100 * 1024);
    const reply = await request(server, "POST", "/v1/streams/s/records", { headers: streamHeaders, body: JSON.stringify({ records: [{ body: big }] }) });
    assert.equal(reply.status, 413);
  });

  it("answers a chunked body (no content-length) over the limit with 413 too", async () => {
    const reply = await new Promise<Reply>((resolve, reject) => {
      const req = http.request(`${server.url}/v1/streams/s/records`, { method: "POST", headers: { ...streamHeaders, authorization: `Bearer ${TOKEN}`, "transfer-encoding": "chunked" } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on("error", reject);
      const piece = Buffer.alloc(64 * 1024, "x");
      const writeMore = (): void => {
        while (!req.destroyed && req.write(piece));
        if (!req.destroyed) req.once("drain", writeMore);
      };
      writeMore();
    });
    assert.equal(reply.status, 413);
  });

  it("an SSE read session resumes after a Last-Event-ID with its limits reduced, and ends with [DONE]", async () => {
    await request(server, "PUT", "/v1/streams/sse", { headers: streamHeaders });
    const body = JSON.stringify({ records: ["a", "b", "c", "d", "e"].map((b) => ({ body: b })) });
    assert.equal((await request(server, "POST", "/v1/streams/sse/records", { headers: streamHeaders, body })).status, 200);
    const reply = await request(server, "GET", "/v1/streams/sse/records?seq_num=0&count=3", {
      headers: { "s2-basin": BASIN, accept: "text/event-stream", "last-event-id": "1,2,18" },
    });
    assert.equal(reply.status, 200);
    const text = reply.body.toString();
    const batches = [...text.matchAll(/event: batch\nid: ([^\n]+)\ndata: ([^\n]+)/g)];
    assert.deepEqual(batches.map((m) => (JSON.parse(m[2]!) as { records: { body: string }[] }).records.map((r) => r.body)).flat(), ["c"]);
    assert.equal(batches.at(-1)![1], "2,3,27");
    assert.ok(text.endsWith("data: [DONE]\n\n"), text);
  });

  it("an SSE read session waiting at the tail sends ping events with the tail", async () => {
    const controller = new AbortController();
    const pings = await new Promise<string>((resolve, reject) => {
      const req = http.request(`${server.url}/v1/streams/sse/records?tail_offset=0`, { headers: { authorization: `Bearer ${TOKEN}`, "s2-basin": BASIN, accept: "text/event-stream" }, signal: controller.signal }, (res) => {
        let text = "";
        res.on("data", (chunk: Buffer) => {
          text += chunk.toString();
          if ((text.match(/event: ping/g) ?? []).length >= 2) resolve(text);
        });
      });
      req.on("error", (error) => (controller.signal.aborted ? undefined : reject(error)));
      req.end();
    });
    controller.abort();
    assert.match(pings, /event: ping\ndata: \{"timestamp":\d+,"tail":\{"seq_num":5,"timestamp":\d+\}\}/);
  });

  it("answers a retried create (same s2-request-token) as the create, and another token with 409", async () => {
    const create = (token: string) =>
      request(server, "POST", "/v1/streams", { headers: { ...streamHeaders, "s2-request-token": token }, body: JSON.stringify({ stream: "retried" }) });
    assert.equal((await create("tok-1")).status, 201);
    const retry = await create("tok-1");
    assert.equal(retry.status, 201);
    assert.equal(json(retry).name, "retried");
    assert.equal(json(await create("tok-2")).code, "resource_already_exists");
    const basin = (token: string) => request(server, "POST", "/v1/basins", { headers: { "s2-request-token": token }, body: JSON.stringify({ basin: "retried-basin" }) });
    assert.equal((await basin("b-1")).status, 201);
    assert.equal((await basin("b-1")).status, 201);
    assert.equal((await basin("b-2")).status, 409);
  });

  it("answers a request head over the header limit with 431, over HTTP/1.1", async () => {
    const reply = await request(server, "GET", "/v1/basins", { headers: { "x-padding": "p".repeat(20 * 1024) } });
    assert.equal(reply.status, 431);
  });

  it("answers unknown routes 404 bad_path and the unserved API groups 501 not_implemented", async () => {
    assert.equal((await request(server, "GET", "/v1/nothing")).status, 404);
    const tokens = await request(server, "GET", "/v1/access-tokens");
    assert.equal(tokens.status, 501);
    assert.equal(json(tokens).code, "not_implemented");
    assert.equal((await request(server, "DELETE", "/v1/streams/s/records")).status, 405);
    const noBasin = await request(server, "GET", "/v1/streams");
    assert.equal(noBasin.status, 400);
    assert.equal(json(noBasin).code, "bad_header");
  });

  it("ends an s2s append session with a terminal bad_frame on a frame with a zero length", async () => {
    const client = http2.connect(server.url);
    try {
      const stream = client.request({ ":method": "POST", ":path": "/v1/streams/s/records", "content-type": "s2s/proto", "s2-basin": BASIN, authorization: `Bearer ${TOKEN}` });
      stream.end(Buffer.from([0, 0, 0, 0]));
      const chunks: Buffer[] = [];
      for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
      const body = Buffer.concat(chunks);
      assert.equal(body[3]! & 0x80, 0x80, "a terminal frame");
      assert.equal(body.readUInt16BE(4), 400);
      assert.equal(JSON.parse(body.subarray(6).toString()).code, "bad_frame");
    } finally {
      client.close();
    }
  });

  it("a client that disconnects in the middle of an append body leaves nothing written and the server healthy", async () => {
    const before = json(await request(server, "GET", "/v1/streams/s/records/tail", { headers: streamHeaders }));
    await new Promise<void>((resolve) => {
      const socket = net.connect(server.port, "127.0.0.1", () => {
        socket.write(`POST /v1/streams/s/records HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TOKEN}\r\ns2-basin: ${BASIN}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"records":[{"body":"`);
        setImmediate(() => socket.destroy());
        socket.once("close", () => resolve());
      });
    });
    const after = json(await request(server, "GET", "/v1/streams/s/records/tail", { headers: streamHeaders }));
    assert.deepEqual(after, before);
    assert.equal((await request(server, "GET", "/health")).status, 200);
  });

  it("ends a read session whose client stopped reading once the drain timeout passes", async () => {
    const body = "y".repeat(60_000);
    for (let i = 0; i < 40; i++) {
      // 40 appends of 10 records of 60 kB: 24 MB, more than loopback socket buffers hold.
      const reply = await request(server, "POST", "/v1/streams/s/records", { headers: streamHeaders, body: JSON.stringify({ records: Array.from({ length: 10 }, () => ({ body })) }) });
      assert.equal(reply.status, 200);
    }
    const metric = async () => Number(/durastream_server_slow_client_sessions_total (\d+)/.exec((await request(server, "GET", "/metrics")).body.toString())![1]);
    const endedBefore = await metric();
    const socket = net.connect(server.port, "127.0.0.1");
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write(`GET /v1/streams/s/records?seq_num=0 HTTP/1.1\r\nhost: x\r\naccept: text/event-stream\r\nauthorization: Bearer ${TOKEN}\r\ns2-basin: ${BASIN}\r\n\r\n`);
    socket.pause();
    // The session fills the socket buffers, waits for the drain timeout (300 ms) and ends.
    const deadline = Date.now() + 10_000;
    while ((await metric()) === endedBefore) {
      assert.ok(Date.now() < deadline, "the session was not ended");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    socket.destroy();
  });
});
