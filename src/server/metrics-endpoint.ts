/** `GET /metrics`: the Log's metrics and the server's counters, in Prometheus text. */
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from "../index.js";
import type { ServerContext, ServerCounters } from "./context.js";
import type { Exchange } from "./exchange.js";

/** The server's own metrics: name (after `durastream_server_`), type, help, and the counter it shows. */
const SERVER_METRICS: ReadonlyArray<readonly [name: string, type: "counter" | "gauge", help: string, field: keyof ServerCounters]> = [
  ["requests_total", "counter", "HTTP requests handled.", "requests"],
  ["request_errors_total", "counter", "Requests answered with an error status.", "requestErrors"],
  ["active_sessions", "gauge", "Open SSE and s2s sessions.", "activeSessions"],
  ["append_session_acks_total", "counter", "Acks sent by s2s append sessions.", "appendSessionBatches"],
  ["read_session_batches_total", "counter", "Batches sent by read sessions.", "readSessionBatches"],
  ["slow_client_sessions_total", "counter", "Sessions ended because the client stopped reading.", "sessionsEndedSlowClient"],
];

export function serveMetrics(ctx: ServerContext, ex: Exchange): void {
  const lines = SERVER_METRICS.flatMap(([name, type, help, field]) => [
    `# HELP durastream_server_${name} ${help}`,
    `# TYPE durastream_server_${name} ${type}`,
    `durastream_server_${name} ${ctx.counters[field]}`,
  ]);
  ex.send(200, PROMETHEUS_CONTENT_TYPE, `${renderPrometheus(ctx.log.metrics())}${lines.join("\n")}\n`);
}
