/**
 * Bearer-token authentication: with a token configured, every request but `GET /health` needs
 * `Authorization: Bearer <token>`. The comparison takes the same time whatever the guess: both
 * sides are hashed to 32 bytes and compared with `timingSafeEqual`, so neither the token's
 * length nor a matching prefix shows in the timing.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { ApiError } from "./api-error.js";

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

/** Checks Authorization headers against one token. */
export class TokenAuth {
  readonly #expected: Buffer;

  constructor(token: string) {
    if (token.length === 0) throw new Error("the access token must not be empty");
    this.#expected = digest(token);
  }

  /** Throws 401 `authn` unless `authorization` carries the token. */
  check(authorization: string | undefined): void {
    const match = /^Bearer\s+(.+)$/i.exec(authorization ?? "");
    const given = digest(match?.[1]?.trim() ?? "");
    const ok = timingSafeEqual(given, this.#expected);
    if (match === null) throw new ApiError(401, "authn", "missing bearer token: send Authorization: Bearer <token>");
    if (!ok) throw new ApiError(401, "authn", "invalid access token");
  }
}
