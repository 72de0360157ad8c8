/**
 * The S2 API server: one TCP port that speaks HTTP/1.1 and HTTP/2 without TLS (h2c with prior
 * knowledge, which the SDK uses for its s2s sessions), in front of one durastream Log.
 *
 *   net.Server ──first bytes "PRI * HTTP/2.0"?──yes──> http2 server ──┐
 *                                          └──no───> http1 server ──┴─> handle(): auth, route,
 *                                                                         handler, error body,
 *                                                                         access log line
 *
 * Node's http2 server does not take HTTP/1.1 connections, so the socket is peeked and handed
 * to the right one. Shutdown (`close()`, or SIGINT/SIGTERM for the command) stops accepting
 * connections, answers new requests 503 `server_draining`, waits for the appends in flight to
 * be acknowledged, ends read and append sessions (a draining append session acks what it took
 * first), then closes the Log when the server opened it. Connections still open after the
 * grace period are destroyed; that never loses an acknowledged append, since nothing is
 * acknowledged before it is durable.
 */
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { Duplex } from "node:stream";
import { openLog, type Log, type LogOptions, type ObjectStore } from "../index.js";
import { ApiError, toApiError } from "./api-error.js";
import { TokenAuth } from "./auth.js";
import { BasinCatalog } from "./basins.js";
import { ServerContext } from "./context.js";
import { Exchange, type RequestLike, type ResponseLike } from "./exchange.js";
import {
  DEFAULT_DRAIN_TIMEOUT_MS,
  DEFAULT_HEADERS_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_SHUTDOWN_GRACE_MS,
  SESSION_HEARTBEAT_MS,
} from "./limits.js";
import { route } from "./router.js";

/** Options of `createS2Api()` and `startServer()`. Sizes in bytes, times in ms. */
export interface S2ApiOptions {
  /** The Log to serve. Give this or `store`; a Log given here is not closed by the server. */
  log?: Log;
  /** A store (ObjectStore or URL such as `file://./data`) to open a Log on; the server closes it. */
  store?: ObjectStore | string;
  /** Options of the Log opened on `store`. */
  logOptions?: Omit<LogOptions, "store">;
  /** When set, every request but `GET /health` needs `Authorization: Bearer <accessToken>`. */
  accessToken?: string;
  /** Called with one line per request (method, path, status, bytes out, ms) when given. */
  accessLog?: (line: string) => void;
  /** Largest request body (default 8 MiB); 413 past it. */
  maxBodyBytes?: number;
  /** A session whose client does not read for this long is ended (default 30000). */
  drainTimeoutMs?: number;
  /** Heartbeat interval of read sessions (default 10000). */
  heartbeatMs?: number;
  /** Wall clock, for RFC 3339 times and heartbeats (default Date.now). */
  nowMs?: () => number;
}

/** Options of `startServer()`: the API's, plus where to listen and the connection limits. */
export interface ServeOptions extends S2ApiOptions {
  /** Interface to listen on (default 127.0.0.1: loopback only). */
  host?: string;
  /** Port (default 8080; 0 picks a free one). */
  port?: number;
  /** Largest request head, in bytes (default 16 KiB). */
  maxHeaderBytes?: number;
  /** Time to receive a request's headers (default 10000). */
  headersTimeoutMs?: number;
  /** Time to receive a whole HTTP/1.1 request (default 60000). */
  requestTimeoutMs?: number;
  /** Idle connections are closed after this (default 120000). */
  idleTimeoutMs?: number;
  /** Longest wait for in-flight work at shutdown before connections are destroyed (default 10000). */
  shutdownGraceMs?: number;
}

/** The S2 API as a request handler, to mount on an http or http2 server of your own. */
export interface S2Api {
  /** The Log being served. */
  readonly log: Log;
  /** Handles one request (HTTP/1.1 or the HTTP/2 compatibility API). */
  handle(request: http.IncomingMessage | http2.Http2ServerRequest, response: http.ServerResponse | http2.Http2ServerResponse): void;
  /**
   * Stops taking requests (503 server_draining), waits for in-flight appends and sessions (at
   * most `graceMs`), and closes the Log if the API opened it.
   */
  close(graceMs?: number): Promise<void>;
}

/** Builds the S2 API around a Log (or a store it opens), ready to mount. */
export async function createS2Api(options: S2ApiOptions): Promise<S2Api> {
  if ((options.log === undefined) === (options.store === undefined)) throw new ApiError(500, "other", "createS2Api needs exactly one of `log` and `store`");
  const ownsLog = options.log === undefined;
  const log = options.log ?? (await openLog({ ...options.logOptions, store: options.store! }));
  try {
    const basins = new BasinCatalog(log);
    await basins.open();
    const ctx = new ServerContext({
      log,
      basins,
      nowMs: options.nowMs ?? Date.now,
      limits: {
        maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
        drainTimeoutMs: options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS,
        heartbeatMs: options.heartbeatMs ?? SESSION_HEARTBEAT_MS,
      },
    });
    return new Api(ctx, options, ownsLog);
  } catch (error) {
    if (ownsLog) await log.close().catch(() => undefined);
    throw error;
  }
}

class Api implements S2Api {
  readonly #ctx: ServerContext;
  readonly #auth: TokenAuth | undefined;
  readonly #accessLog: ((line: string) => void) | undefined;
  readonly #ownsLog: boolean;
  readonly #active = new Map<Exchange, Promise<void>>();
  #closing: Promise<void> | undefined;

  constructor(ctx: ServerContext, options: S2ApiOptions, ownsLog: boolean) {
    this.#ctx = ctx;
    this.#auth = options.accessToken === undefined ? undefined : new TokenAuth(options.accessToken);
    this.#accessLog = options.accessLog;
    this.#ownsLog = ownsLog;
  }

  get log(): Log {
    return this.#ctx.log;
  }

  handle(request: http.IncomingMessage | http2.Http2ServerRequest, response: http.ServerResponse | http2.Http2ServerResponse): void {
    const ex = new Exchange(request as unknown as RequestLike, response as unknown as ResponseLike);
    const startMs = performance.now();
    const done = this.#run(ex).finally(() => {
      this.#active.delete(ex);
      this.#accessLog?.(`${new Date(this.#ctx.nowMs()).toISOString()} ${ex.method} ${ex.path} ${ex.status} ${ex.bytesOut} ${(performance.now() - startMs).toFixed(1)}ms`);
    });
    this.#active.set(ex, done);
  }

  async #run(ex: Exchange): Promise<void> {
    const ctx = this.#ctx;
    ctx.counters.requests++;
    try {
      if (!(ex.method === "GET" && ex.path === "/health")) {
        this.#auth?.check(ex.header("authorization"));
        if (ctx.draining) throw new ApiError(503, "server_draining", "the server is shutting down", { retryAfterSeconds: 1 });
      }
      await route(ex)(ctx, ex);
    } catch (error) {
      const apiError = toApiError(error);
      ctx.counters.requestErrors++;
      if (ex.response.headersSent) {
        ex.end();
        return;
      }
      // The rest of a refused body is not read: close the connection rather than drain it.
      const headers: Record<string, string | number> = apiError.retryAfterSeconds === undefined ? {} : { "retry-after": apiError.retryAfterSeconds };
      if (apiError.status === 413 && ex.request.httpVersion.startsWith("1")) headers.connection = "close";
      if (apiError.status === 413) ex.response.once("finish", () => ex.request.destroy());
      if (!ex.signal.aborted) ex.json(apiError.status, apiError.json(), headers);
    }
  }

  close(graceMs = DEFAULT_SHUTDOWN_GRACE_MS): Promise<void> {
    this.#closing ??= this.#close(graceMs);
    return this.#closing;
  }

  async #close(graceMs: number): Promise<void> {
    const ctx = this.#ctx;
    ctx.draining = true;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    try {
      await Promise.race([Promise.allSettled([...ctx.inflight]), grace]);
      for (const ex of this.#active.keys()) ex.stop();
      await Promise.race([Promise.allSettled([...this.#active.values()]), grace]);
    } finally {
      clearTimeout(timer);
    }
    if (this.#ownsLog) await ctx.log.close();
  }
}

/** A running server. */
export interface S2Server {
  /** The API it serves (its Log, its handler). */
  readonly api: S2Api;
  /** The port it listens on. */
  readonly port: number;
  /** `http://host:port`, what the SDK's account and basin endpoints are set to. */
  readonly url: string;
  /** Graceful shutdown (see S2Api.close), then the listener and every connection closed. */
  close(): Promise<void>;
}

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n");
/** HTTP/2 receive window of each stream: one maximal s2s frame and a little more. */
const H2_STREAM_WINDOW_BYTES = 3 * 1024 * 1024;
/** HTTP/2 receive window of each connection. */
const H2_CONNECTION_WINDOW_BYTES = 16 * 1024 * 1024;
/** After shutdown, how long connections may take to deliver their last bytes and close, in ms. */
const SOCKET_LINGER_MS = 2_000;

/** Starts the S2 API server: `durastream serve` is this plus signal handling. */
export async function startServer(options: ServeOptions): Promise<S2Server> {
  const api = await createS2Api(options);
  const handler = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse): void => api.handle(req, res);
  const maxHeaderBytes = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const h1 = http.createServer({ maxHeaderSize: maxHeaderBytes, requestTimeout: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS }, handler);
  h1.headersTimeout = options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;
  h1.keepAliveTimeout = Math.min(idleTimeoutMs, 5_000);
  h1.timeout = idleTimeoutMs;
  // Flow-control windows: a client may send one maximal s2s frame on a stream and a few on
  // the connection before the server reads them. HTTP/2's default of 64 KiB made a 1 MiB
  // append take many round trips (6 MB/s here); what is unread is bounded by these windows.
  const h2 = http2.createServer({ maxSessionMemory: 64, settings: { maxHeaderListSize: maxHeaderBytes, initialWindowSize: H2_STREAM_WINDOW_BYTES } }, handler);
  h2.setTimeout(idleTimeoutMs);
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on("session", (session: http2.ServerHttp2Session) => {
    session.once("connect", () => session.setLocalWindowSize(H2_CONNECTION_WINDOW_BYTES));
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  const sockets = new Set<net.Socket>();
  const listener = net.createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    sniff(socket, (isH2, seen) => {
      if (isH2) h2.emit("connection", relay(socket, seen));
      else {
        socket.unshift(seen);
        h1.emit("connection", socket);
        socket.resume();
      }
    });
  });
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(options.port ?? 8080, host, () => {
      listener.off("error", reject);
      resolve();
    });
  });
  const port = (listener.address() as net.AddressInfo).port;
  let closing: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    listener.close();
    for (const session of sessions) session.close();
    h1.closeIdleConnections();
    const graceMs = options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;
    await api.close(graceMs);
    // Let the last answers (acks, terminal frames) reach their clients: sessions closed with
    // GOAWAY end once their streams did, idle HTTP/1.1 connections now; the rest are destroyed.
    h1.closeIdleConnections();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([...sockets].map((socket) => new Promise((resolve) => socket.once("close", resolve)))),
      new Promise((resolve) => (timer = setTimeout(resolve, Math.min(graceMs, SOCKET_LINGER_MS)))),
    ]);
    clearTimeout(timer);
    for (const socket of sockets) socket.destroy();
  };
  return {
    api,
    port,
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    close: () => (closing ??= close()),
  };
}

/** Waits for the first bytes of a connection and tells whether it starts with the HTTP/2 preface. */
function sniff(socket: net.Socket, handOver: (isH2: boolean, seen: Buffer) => void): void {
  let seen = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    seen = Buffer.concat([seen, chunk]);
    const compared = Math.min(seen.length, H2_PREFACE.length);
    const isH2Prefix = seen.subarray(0, compared).equals(H2_PREFACE.subarray(0, compared));
    if (isH2Prefix && seen.length < H2_PREFACE.length) return;
    socket.off("data", onData);
    socket.pause();
    handOver(isH2Prefix, seen);
  };
  socket.on("data", onData);
  socket.on("error", () => socket.destroy());
}

/**
 * The socket as a plain Duplex that first yields the bytes already read. The HTTP/2 server
 * reads a net.Socket's handle directly (bytes given back with `unshift()` would be lost), so
 * it gets this relay instead; back-pressure passes through (pause while the relay is full).
 */
function relay(socket: net.Socket, seen: Buffer): Duplex {
  const duplex = new Duplex({
    read: () => void socket.resume(),
    write: (chunk: Buffer, _encoding, callback) => void socket.write(chunk, callback),
    final: (callback) => void socket.end(callback),
    destroy: (error, callback) => {
      socket.destroy(error ?? undefined);
      callback(error);
    },
  });
  duplex.push(seen);
  socket.on("data", (chunk: Buffer) => {
    if (!duplex.push(chunk)) socket.pause();
  });
  socket.once("end", () => duplex.push(null));
  socket.once("close", () => duplex.destroy());
  socket.resume();
  return duplex;
}
