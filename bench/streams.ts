/**
 * The stream API's benchmark (issue 4): append throughput and p50/p99 ack latency with 1 and 64
 * appenders, 100 B and 1 KiB records, batches of 1 and 100; catch-up reads; follow latency in
 * one process; on LocalStore and simulated S3 Standard. The same machinery as bench/run.ts
 * (preset "streams"); results in bench/README.md ("Streams").
 *
 *   npx tsx bench/streams.ts [--quick] [--runs N] [--filter TEXT] [--update-readme]
 */
import { suiteMain } from "./suite/main.js";

await suiteMain("streams", import.meta.filename);
