/** Reading JSON request bodies and list query parameters, with S2's error codes. */
import { ApiError } from "./api-error.js";
import { MAX_LIST_LIMIT } from "./basins.js";
import type { Exchange } from "./exchange.js";

/** The body as a JSON object; an empty body is `{}` when `optional`. 400 bad_json otherwise. */
export async function readJsonBody(ex: Exchange, limitBytes: number, optional = false): Promise<Record<string, unknown>> {
  const bytes = await ex.body(limitBytes);
  if (bytes.length === 0 && optional) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new ApiError(400, "bad_json", `malformed JSON body: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (parsed === null && optional) return {};
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new ApiError(400, "bad_json", "the body must be a JSON object");
  return parsed as Record<string, unknown>;
}

/** `prefix`, `start_after` and `limit` (1..1000, default 1000) of a list route. */
export function listParams(query: URLSearchParams): { prefix: string; startAfter: string | undefined; limit: number } {
  const prefix = query.get("prefix") ?? "";
  const startAfter = query.get("start_after") ?? undefined;
  const rawLimit = query.get("limit");
  let limit = MAX_LIST_LIMIT;
  if (rawLimit !== null) {
    if (!/^\d+$/.test(rawLimit)) throw new ApiError(400, "bad_query", `limit must be a whole number, got ${JSON.stringify(rawLimit)}`);
    limit = Math.min(Math.max(Number(rawLimit), 1), MAX_LIST_LIMIT);
  }
  if (startAfter !== undefined && startAfter !== "" && startAfter < prefix) {
    throw new ApiError(422, "invalid", "start_after must not sort before prefix");
  }
  return { prefix, startAfter: startAfter === "" ? undefined : startAfter, limit };
}
