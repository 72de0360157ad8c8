/**
 * Errors as S2 clients expect them: an HTTP status and a JSON body, `{code, message}` for most,
 * `{seq_num_mismatch: N}` or `{fencing_token_mismatch: "t"}` with 412, `{tail: {...}}` with 416.
 *
 * `toApiError()` is the one place a durastream error becomes an S2 answer. The rule for writes:
 * an error whose outcome is "unknown" (the records may be durable) is answered 500 `storage`,
 * which S2 documents as "may have had side effects", never with a code S2 promises is free of
 * them (`unavailable`, `server_draining`); only a write that certainly did not happen gets those.
 */
import { isDurastreamError, type DurastreamError } from "../index.js";

/** An S2 API error: status, S2 error code and the JSON body to send. */
export class ApiError extends Error {
  /** The HTTP status. */
  readonly status: number;
  /** S2's error code (`stream_not_found`, `invalid`, ...); the body's `code` for standard errors. */
  readonly code: string;
  /** The JSON body when it is not the standard `{code, message}` (412 and 416). */
  readonly body: unknown;
  /** Seconds for a `Retry-After` header (503 while the store is unreachable). */
  readonly retryAfterSeconds: number | undefined;

  constructor(status: number, code: string, message: string, extra: { body?: unknown; retryAfterSeconds?: number } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = extra.body;
    this.retryAfterSeconds = extra.retryAfterSeconds;
  }

  /** The JSON body to send. */
  json(): unknown {
    return this.body ?? { code: this.code, message: this.message };
  }
}

/** Seconds a client is told to wait while the store is unreachable. */
export const STORE_UNAVAILABLE_RETRY_AFTER_SECONDS = 1;

/** An S2 answer for any error a handler raised. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (!isDurastreamError(error)) return new ApiError(500, "other", `internal server error: ${error instanceof Error ? error.message : String(error)}`);
  return fromDurastreamError(error);
}

function fromDurastreamError(error: DurastreamError): ApiError {
  switch (error.code) {
    case "validation":
      return new ApiError(422, "invalid", error.message);
    case "seq_num_mismatch": {
      const expected = (error as DurastreamError & { expectedSeqNum: number }).expectedSeqNum;
      return new ApiError(412, "seq_num_mismatch", error.message, { body: { seq_num_mismatch: expected } });
    }
    case "fencing_token_mismatch": {
      const expected = (error as DurastreamError & { expectedFencingToken: string }).expectedFencingToken;
      return new ApiError(412, "fencing_token_mismatch", error.message, { body: { fencing_token_mismatch: expected } });
    }
    case "unwritten": {
      const tail = (error as DurastreamError & { tail: { seqNum: number; timestamp: number } }).tail;
      return new ApiError(416, "unwritten", error.message, { body: { tail: { seq_num: tail.seqNum, timestamp: tail.timestamp } } });
    }
    case "stream_not_found":
      return new ApiError(404, "stream_not_found", error.message);
    case "stream_exists":
      return new ApiError(409, "resource_already_exists", error.message);
    case "aborted":
      return new ApiError(499, "client_hangup", error.message);
    case "read_only":
      return new ApiError(403, "permission_denied", error.message);
    case "storage":
      return storageError(error);
    case "closed":
      return error.outcome === "not_applied" && (error as DurastreamError & { reason?: string }).reason === "closed"
        ? new ApiError(503, "server_draining", "the server is shutting down; nothing was written", { retryAfterSeconds: STORE_UNAVAILABLE_RETRY_AFTER_SECONDS })
        : new ApiError(500, "other", error.message);
    default:
      return new ApiError(500, error.code === "fenced" ? "other" : "storage", error.message);
  }
}

function storageError(error: DurastreamError): ApiError {
  if (error.outcome === "not_applied") {
    return new ApiError(503, "unavailable", `the store is unreachable; nothing was written: ${error.message}`, {
      retryAfterSeconds: STORE_UNAVAILABLE_RETRY_AFTER_SECONDS,
    });
  }
  return new ApiError(500, "storage", `the outcome is unknown (the write may be durable; read the stream before retrying): ${error.message}`);
}

/** 404 for a basin that does not exist. */
export function basinNotFound(basin: string): ApiError {
  return new ApiError(404, "basin_not_found", `basin ${JSON.stringify(basin)} does not exist`);
}

/** 422 with S2's `invalid` code. */
export function invalid(message: string): ApiError {
  return new ApiError(422, "invalid", message);
}
