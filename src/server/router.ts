/**
 * Routing: method and path to handler, with S2's paths under `/v1`, `GET /health` and
 * `GET /metrics` at the root. Path segments are percent-decoded (the SDK encodes a stream
 * name with encodeURIComponent, so a name may hold `/` as `%2F`). Routes s2-lite does not
 * serve either (access tokens, the metrics API, locations) answer 501 `not_implemented`.
 *
 *   GET    /v1/basins                          list        POST /v1/basins   create
 *   GET    /v1/basins/{b}                      config      PUT  ensure   PATCH reconfigure   DELETE
 *   GET    /v1/streams                         list        POST /v1/streams  create   (basin: s2-basin header)
 *   GET    /v1/streams/{s}                     config      PUT  ensure   PATCH reconfigure   DELETE
 *   POST   /v1/streams/{s}/records             append (unary or s2s session)
 *   GET    /v1/streams/{s}/records             read (unary, SSE or s2s session)
 *   GET    /v1/streams/{s}/records/tail        check tail
 */
import { ApiError } from "./api-error.js";
import * as basinRoutes from "./basin-routes.js";
import type { ServerContext } from "./context.js";
import type { Exchange } from "./exchange.js";
import { serveMetrics } from "./metrics-endpoint.js";
import * as records from "./records.js";
import * as streams from "./streams.js";

type Handler = (ctx: ServerContext, ex: Exchange) => Promise<void> | void;

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new ApiError(400, "bad_path", `path segment ${JSON.stringify(segment)} is not valid percent-encoding`);
  }
}

function methodNotAllowed(ex: Exchange): never {
  throw new ApiError(405, "bad_path", `${ex.method} is not allowed on ${ex.path}`);
}

function pick(ex: Exchange, table: Partial<Record<string, Handler>>): Handler {
  return table[ex.method] ?? methodNotAllowed(ex);
}

/** The handler of a request; throws ApiError for an unknown path or method. */
export function route(ex: Exchange): Handler {
  const parts = ex.path.split("/").slice(1);
  if (parts.length === 1 && parts[0] === "health") return pick(ex, { GET: health, HEAD: health });
  if (parts.length === 1 && parts[0] === "metrics") return pick(ex, { GET: serveMetrics });
  if (parts[0] !== "v1") throw new ApiError(404, "bad_path", `no route for ${ex.path}`);
  const [collection, rawName, sub, subsub, ...rest] = parts.slice(1);
  if (rest.length > 0 || rawName === "") throw new ApiError(404, "bad_path", `no route for ${ex.path}`);
  const name = rawName === undefined ? undefined : decodeSegment(rawName);
  if (collection === "basins" && sub === undefined) {
    if (name === undefined) return pick(ex, { GET: basinRoutes.listBasins, POST: basinRoutes.createBasin });
    return pick(ex, {
      GET: (c, e) => basinRoutes.getBasinConfig(c, e, name),
      PUT: (c, e) => basinRoutes.ensureBasin(c, e, name),
      PATCH: (c, e) => basinRoutes.reconfigureBasin(c, e, name),
      DELETE: (c, e) => basinRoutes.deleteBasin(c, e, name),
    });
  }
  if (collection === "streams") return streamRoute(ex, name, sub, subsub);
  if (collection === "access-tokens" || collection === "metrics" || collection === "locations") {
    throw new ApiError(501, "not_implemented", `/v1/${collection} is not served by durastream serve`);
  }
  throw new ApiError(404, "bad_path", `no route for ${ex.path}`);
}

function streamRoute(ex: Exchange, name: string | undefined, sub: string | undefined, subsub: string | undefined): Handler {
  if (name === undefined) return pick(ex, { GET: streams.listStreams, POST: streams.createStream });
  if (sub === undefined) {
    return pick(ex, {
      GET: (c, e) => streams.getStreamConfig(c, e, name),
      PUT: (c, e) => streams.ensureStream(c, e, name),
      PATCH: (c, e) => streams.reconfigureStream(c, e, name),
      DELETE: (c, e) => streams.deleteStream(c, e, name),
    });
  }
  if (sub === "records" && subsub === undefined) {
    return pick(ex, { GET: (c, e) => records.read(c, e, name), POST: (c, e) => records.append(c, e, name) });
  }
  if (sub === "records" && subsub === "tail") return pick(ex, { GET: (c, e) => records.checkTail(c, e, name) });
  throw new ApiError(404, "bad_path", `no route for ${ex.path}`);
}

/** GET /health: 200 while the log is usable, 503 while the store is failing or after close. */
function health(ctx: ServerContext, ex: Exchange): void {
  const h = ctx.log.health();
  const body = { status: ctx.draining ? "draining" : h.status, ...(h.reason === undefined ? {} : { reason: h.reason }) };
  ex.json(h.status === "ok" && !ctx.draining ? 200 : 503, body);
}
