/**
 * The official S2 TypeScript SDK against durastream: `startServer()` serves the S2 REST API over
 * a Log (what `npx durastream serve` runs), and the SDK, with both endpoints set to the server,
 * creates a basin and a stream, appends, reads back, and follows with a read session.
 *
 *   npx tsx examples/s2-sdk.ts
 *
 * DURASTREAM_STORE (default memory://) picks the store.
 */
import { AppendInput, AppendRecord, S2 } from "@s2-dev/streamstore";
import { openLog } from "durastream";
import { startServer } from "durastream/server";

const log = await openLog({ store: process.env.DURASTREAM_STORE ?? "memory://" });
const server = await startServer({ log, port: 0 });

// As with s2-lite: any token (unless the server was given one), both endpoints at the server.
const s2 = new S2({ accessToken: "unused", endpoints: { account: server.url, basin: server.url } });
await s2.basins.ensure({ basin: "my-first-basin" });
const basin = s2.basin("my-first-basin");
await basin.streams.ensure({ stream: "greetings" });
const stream = basin.stream("greetings");

const ack = await stream.append(AppendInput.create([AppendRecord.string({ body: "hello" }), AppendRecord.string({ body: "world" })]));
console.log(`appended ${ack.start.seqNum}..${ack.end.seqNum}, durable`);

const batch = await stream.read({ start: { from: { seqNum: ack.start.seqNum } } });
console.log(batch.records.map((record) => record.body).join(" "));

// A read session (s2s over HTTP/2 on Node) that stops after two records.
const session = await stream.readSession({ start: { from: { seqNum: 0 } }, stop: { limits: { count: 2 } } });
for await (const record of session) console.log(`session: ${record.seqNum} ${record.body}`);

await server.close();
await log.close();
