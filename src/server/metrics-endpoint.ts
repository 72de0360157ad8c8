/** `GET /metrics`: the Log's metrics and the server's counters, in Prometheus text. */
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from "../index.js";
import type { ServerContext } from "./context.js";
import type { Exchange } from "./exchange.js";

export function serveMetrics(ctx: ServerContext, ex: Exchange): void {
  const c = ctx.counters;
  const lines = [
    "# HELP durastream_server_requests_total HTTP requests handled.",
    "# TYPE durastream_server_requests_total counter",
    `durastream_server_requests_total ${c.requests}`,
    "# HELP durastream_server_request_errors_total Requests answered with an error status.",
    "# TYPE durastream_server_request_errors_total counter",
    `durastream_server_request_errors_total ${c.requestErrors}`,
    "# HELP durastream_server_active_sessions Open SSE and s2s sessions.",
    "# TYPE durastream_server_active_sessions gauge",
    `durastream_server_active_sessions ${c.activeSessions}`,
    "# HELP durastream_server_append_session_acks_total Acks sent by s2s append sessions.",
    "# TYPE durastream_server_append_session_acks_total counter",
    `durastream_server_append_session_acks_total ${c.appendSessionBatches}`,
    "# HELP durastream_server_read_session_batches_total Batches sent by read sessions.",
    "# TYPE durastream_server_read_session_batches_total counter",
    `durastream_server_read_session_batches_total ${c.readSessionBatches}`,
    "# HELP durastream_server_slow_client_sessions_total Sessions ended because the client stopped reading.",
    "# TYPE durastream_server_slow_client_sessions_total counter",
    `durastream_server_slow_client_sessions_total ${c.sessionsEndedSlowClient}`,
  ];
  ex.send(200, PROMETHEUS_CONTENT_TYPE, `${renderPrometheus(ctx.log.metrics())}${lines.join("\n")}\n`);
}
