/**
 * Serving `log.metrics()` to Prometheus: a node:http server on 127.0.0.1 whose /metrics answers
 * with `renderPrometheus(log.metrics())`, while a task appends a record every 100 ms so the
 * counters move. No prom-client is needed: durastream renders the text format (0.0.4) itself.
 * (With prom-client, serve this text from your own route, or register the values as gauges.)
 *
 *   npx tsx examples/metrics-server.ts          # then: curl http://127.0.0.1:9464/metrics
 *
 * PORT (default 9464; 0 picks a free port) and DURASTREAM_STORE (default memory://) change the
 * port and the store. Ctrl-C stops it and closes the log.
 */
import { createServer } from "node:http";
import { PROMETHEUS_CONTENT_TYPE, openLog, renderPrometheus } from "durastream";

const log = await openLog({ store: process.env.DURASTREAM_STORE ?? "memory://" });
const events = await log.openStream("events", { createIfMissing: true });

const server = createServer((request, response) => {
  if (request.url !== "/metrics") {
    response.writeHead(404).end("try /metrics\n");
    return;
  }
  response.writeHead(200, { "Content-Type": PROMETHEUS_CONTENT_TYPE }).end(renderPrometheus(log.metrics(), { labels: { log: "example" } }));
});
server.listen(Number(process.env.PORT ?? 9464), "127.0.0.1", () => {
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 9464;
  console.log(`serving metrics on http://127.0.0.1:${port}/metrics`);
});

let count = 0;
const ticker = setInterval(() => {
  void events.append([{ body: `tick ${count++}` }]).catch((error: unknown) => console.error(error));
}, 100);

process.once("SIGINT", () => {
  clearInterval(ticker);
  server.close();
  void log.close().then(() => console.log("closed"));
});
