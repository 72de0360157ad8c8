/**
 * Every limit and timeout of the server, in one place. The record limits themselves are the
 * library's (MAX_APPEND_RECORDS, MAX_APPEND_BYTES); these bound what a connection may hold.
 */
import { MAX_APPEND_BYTES } from "../index.js";

/** Most records a unary read returns (S2's cap). */
export const MAX_UNARY_READ_RECORDS = 1000;
/** Most metered bytes a unary read returns (S2's cap). */
export const MAX_UNARY_READ_BYTES = 1024 * 1024;
/** Longest long-poll of a unary read, in seconds (S2's cap). */
export const MAX_UNARY_READ_WAIT_SECONDS = 60;

/**
 * Largest request body, in bytes: a maximal append (1 MiB metered) as JSON in base64 with
 * escapes stays well under it. Past it the server answers 413 without reading the rest.
 */
export const DEFAULT_MAX_BODY_BYTES = 8 * MAX_APPEND_BYTES;
/** Largest request head (request line and headers), in bytes. */
export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;
/** Time a client has to send a request's headers, in ms. */
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
/** Time a client has to send a whole unary request, in ms. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
/** An idle keep-alive connection (or HTTP/2 session) is closed after this, in ms. */
export const DEFAULT_IDLE_TIMEOUT_MS = 120_000;
/**
 * A session whose client has not drained the socket for this long is ended (ms): a slow or
 * stopped reader holds at most the socket buffer plus one batch, never an unbounded queue.
 */
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;
/** Heartbeat interval of SSE and s2s read sessions while waiting at the tail, in ms (S2: 5-15 s; the SDK gives up after 20-25 s). */
export const SESSION_HEARTBEAT_MS = 10_000;
/** Largest s2s frame accepted from a client (the SDK's own limit: 2 MiB). */
export const MAX_S2S_FRAME_BYTES = 2 * 1024 * 1024;
/** Appends of one s2s append session waiting for their acks; past it the server stops reading frames. */
export const MAX_SESSION_PENDING_APPENDS = 1000;
/** Longest a graceful shutdown waits for in-flight requests before closing connections, in ms. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;
