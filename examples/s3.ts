/**
 * durastream on S3 (or any S3-compatible store with conditional writes).
 *
 *   S3_ENDPOINT=http://127.0.0.1:7480 AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... \
 *   AWS_REGION=us-east-1 S3_FORCE_PATH_STYLE=true npx tsx examples/s3.ts my-bucket
 *
 * Without S3_ENDPOINT it talks to AWS S3 with the SDK's default credentials chain. The bucket is
 * created if it does not exist. Each ack means the records are in a PUT that S3 confirmed.
 */
import { S3Store, ensureBucket, openLog, recordText } from "durastream";

const bucket = process.argv[2] ?? process.env.DURASTREAM_BUCKET ?? "durastream-example";
const options = {
  bucket,
  prefix: "example-log",
  ...(process.env.S3_ENDPOINT === undefined ? {} : { endpoint: process.env.S3_ENDPOINT }),
  forcePathStyle: process.env.S3_FORCE_PATH_STYLE === "true",
};
await ensureBucket(options);
const log = await openLog({ store: new S3Store(options) }); // flushIntervalMs defaults to 50 ms on S3
const stream = await log.openStream("clicks", { createIfMissing: true });

const started = performance.now();
const acks = await Promise.all(Array.from({ length: 200 }, (_, i) => stream.append([{ body: `click ${i}` }])));
const elapsedMs = performance.now() - started;
console.log(`200 concurrent appends durable on s3://${bucket}/example-log in ${elapsedMs.toFixed(0)} ms`);
console.log(`store requests so far: ${JSON.stringify(log.metrics().engine.storeRequests)}`);

for await (const record of stream.read({ from: { seqNum: acks[197]!.start.seqNum } })) console.log(`  #${record.seqNum}: ${recordText(record)}`);
await log.close();
