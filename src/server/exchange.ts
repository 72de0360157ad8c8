/**
 * One request and its response, the same for HTTP/1.1 (`node:http`) and HTTP/2 (the
 * `node:http2` compatibility API): the handlers see only this, so one router serves both.
 *
 * It owns three rules every handler relies on: a request body is read up to a byte limit and
 * refused past it (413, before the rest is read); `signal` aborts when the client goes away; and
 * a streamed response applies back-pressure, `write()` returning a promise that waits for the
 * socket to drain, and failing once a client has not drained for `drainTimeoutMs` (a reader
 * that stopped reading is ended, its buffered bytes bounded by the socket's high-water mark
 * plus one message).
 */
import type { IncomingHttpHeaders } from "node:http";
import type { Readable } from "node:stream";
import { ApiError } from "./api-error.js";

/** What both `ServerResponse` and `Http2ServerResponse` offer that the server uses. */
export interface ResponseLike {
  readonly headersSent: boolean;
  readonly writableEnded: boolean;
  readonly writableLength: number;
  writeHead(status: number, headers?: Record<string, string | number>): unknown;
  write(chunk: Uint8Array | string): boolean;
  end(chunk?: Uint8Array | string): unknown;
  once(event: "drain" | "close" | "finish", listener: () => void): unknown;
  removeListener(event: "drain" | "close", listener: () => void): unknown;
  flushHeaders?(): void;
}

/** What both `IncomingMessage` and `Http2ServerRequest` offer that the server uses. */
export type RequestLike = Readable & { readonly headers: IncomingHttpHeaders; readonly method?: string | undefined; readonly url?: string | undefined; readonly httpVersion: string };

/** A request/response pair as the handlers see it. */
export class Exchange {
  readonly request: RequestLike;
  readonly response: ResponseLike;
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly #controller = new AbortController();
  /** Aborts on client disconnect or server shutdown: what sessions stop on. */
  readonly #session = new AbortController();
  #stopped = false;
  /** Set by the handler that answered: status, for the access log. */
  status = 0;
  /** Response bytes written, for the access log. */
  bytesOut = 0;

  constructor(request: RequestLike, response: ResponseLike) {
    this.request = request;
    this.response = response;
    this.method = (request.method ?? "GET").toUpperCase();
    const url = new URL(request.url ?? "/", "http://localhost");
    this.path = url.pathname;
    this.query = url.searchParams;
    response.once("close", () => {
      if (!response.writableEnded) {
        this.#controller.abort();
        this.#session.abort();
      }
    });
  }

  /** Aborts when the client went away or the server is shutting down: sessions end on it. */
  get sessionSignal(): AbortSignal {
    return this.#session.signal;
  }

  /** Whether `stop()` was called (the server is shutting down). */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Ends this exchange's session, if it is one, for a shutdown. */
  stop(): void {
    this.#stopped = true;
    this.#session.abort();
  }

  /** Aborts when the client disconnects before the response ended. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** A request header (lower-case name), the first value if repeated. */
  header(name: string): string | undefined {
    const value = this.request.headers[name];
    return Array.isArray(value) ? value[0] : value;
  }

  /**
   * The whole request body, at most `limitBytes`; 413 past it. Reading stops at the limit (the
   * rest is never buffered) and the connection is closed after the answer.
   */
  body(limitBytes: number): Promise<Uint8Array> {
    const declared = Number(this.header("content-length") ?? NaN);
    if (declared > limitBytes) return Promise.reject(tooLarge(limitBytes));
    const request = this.request;
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let total = 0;
      const cleanup = (): void => {
        request.off("data", onData);
        request.off("end", onEnd);
        request.off("error", onError);
      };
      const onData = (chunk: Buffer): void => {
        total += chunk.length;
        if (total <= limitBytes) {
          chunks.push(chunk);
          return;
        }
        cleanup();
        request.pause();
        reject(tooLarge(limitBytes));
      };
      const onEnd = (): void => {
        cleanup();
        resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
      };
      const onError = (error: Error): void => {
        cleanup();
        reject(new ApiError(499, "client_hangup", `the request body could not be read: ${error.message}`));
      };
      request.on("data", onData);
      request.on("end", onEnd);
      request.on("error", onError);
    });
  }

  /** Sends a whole response. */
  send(status: number, contentType: string | undefined, body: Uint8Array | string, headers: Record<string, string | number> = {}): void {
    if (this.response.headersSent) {
      this.response.end();
      return;
    }
    const bytes = typeof body === "string" ? Buffer.from(body) : body;
    this.status = status;
    this.bytesOut += bytes.length;
    this.response.writeHead(status, { ...(contentType === undefined ? {} : { "content-type": contentType }), "content-length": bytes.length, ...headers });
    this.response.end(bytes);
  }

  /** Sends a JSON response. */
  json(status: number, value: unknown, headers: Record<string, string | number> = {}): void {
    this.send(status, "application/json", JSON.stringify(value), headers);
  }

  /** Starts a streamed response (SSE, s2s): status and headers go out at once. */
  startStream(status: number, headers: Record<string, string | number>): void {
    this.status = status;
    this.response.writeHead(status, headers);
    this.response.flushHeaders?.();
  }

  /**
   * Writes a chunk of a streamed response, waiting while the socket's buffer is full.
   * Rejects when the client went away or did not drain for `drainTimeoutMs`.
   */
  async write(chunk: Uint8Array | string, drainTimeoutMs: number): Promise<void> {
    if (this.signal.aborted) throw new ApiError(499, "client_hangup", "the client went away");
    this.bytesOut += typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.length;
    if (this.response.write(chunk)) return;
    await new Promise<void>((resolve, reject) => {
      const done = (error?: ApiError): void => {
        clearTimeout(timer);
        this.response.removeListener("drain", onDrain);
        this.signal.removeEventListener("abort", onAbort);
        if (error === undefined) resolve();
        else reject(error);
      };
      const onDrain = (): void => done();
      const onAbort = (): void => done(new ApiError(499, "client_hangup", "the client went away"));
      const timer = setTimeout(() => done(new ApiError(408, "request_timeout", `the client did not read for ${drainTimeoutMs} ms`)), drainTimeoutMs);
      this.response.once("drain", onDrain);
      this.signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Ends a streamed response. */
  end(chunk?: Uint8Array | string): void {
    if (chunk !== undefined) this.bytesOut += typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.length;
    if (!this.response.writableEnded) this.response.end(chunk);
  }
}

function tooLarge(limitBytes: number): ApiError {
  return new ApiError(413, "invalid", `request body is larger than ${limitBytes} bytes`);
}
