/**
 * Stream routes of a basin (chosen by the `s2-basin` header): list, create, ensure (PUT),
 * get config, reconfigure (PATCH) and delete. Records are records.ts.
 */
import type { StreamInfo } from "../index.js";
import { ApiError } from "./api-error.js";
import { MAX_LIST_LIMIT } from "./basins.js";
import type { ServerContext } from "./context.js";
import type { Exchange } from "./exchange.js";
import { basinStreamPrefix, dataStreamName } from "./names.js";
import { newStreamConfig, patchFromJson, streamConfigJson } from "./stream-config-json.js";
import { listParams, readJsonBody } from "./request-body.js";

function streamInfoJson(info: StreamInfo, prefix: string): Record<string, unknown> {
  return { name: info.name.slice(prefix.length), created_at: new Date(info.createdAtMs).toISOString(), deleted_at: null };
}

/** The stream's info, or undefined when it does not exist. */
async function findStream(ctx: ServerContext, name: string): Promise<StreamInfo | undefined> {
  const [info] = await ctx.log.listStreams({ prefix: name, limit: 1 });
  return info !== undefined && info.name === name ? info : undefined;
}

/** GET /streams */
export async function listStreams(ctx: ServerContext, ex: Exchange): Promise<void> {
  const basin = await ctx.basinOf(ex);
  const { prefix, startAfter, limit } = listParams(ex.query);
  const base = basinStreamPrefix(basin.name);
  const infos = await ctx.log.listStreams({
    prefix: base + prefix,
    ...(startAfter === undefined ? {} : { startAfter: base + startAfter }),
    limit: Math.min(limit + 1, MAX_LIST_LIMIT),
  });
  const page = infos.slice(0, limit);
  ex.json(200, { streams: page.map((info) => streamInfoJson(info, base)), has_more: infos.length > limit });
}

/** POST /streams */
export async function createStream(ctx: ServerContext, ex: Exchange): Promise<void> {
  const basin = await ctx.basinOf(ex);
  const body = await readJsonBody(ex, ctx.limits.maxBodyBytes);
  if (typeof body.stream !== "string") throw new ApiError(400, "bad_json", "`stream` must be a string");
  const name = dataStreamName(basin.name, body.stream);
  const config = newStreamConfig(basin.config.defaultStreamConfig, patchFromJson(body.config));
  const token = ex.header("s2-request-token");
  try {
    const info = await ctx.basins.whileActive(basin.name, () => ctx.log.createStream(name, config));
    ctx.rememberCreate(`stream:${name}`, token);
    ex.json(201, streamInfoJson(info, basinStreamPrefix(basin.name)));
  } catch (error) {
    // A retry of a create that succeeded (same s2-request-token) is answered as that create.
    const existing = (error as { code?: unknown }).code === "stream_exists" && ctx.isRetriedCreate(`stream:${name}`, token) ? await findStream(ctx, name) : undefined;
    if (existing === undefined) throw error;
    ex.json(201, streamInfoJson(existing, basinStreamPrefix(basin.name)), { "s2-provision-result": "noop" });
  }
}

/** PUT /streams/{stream}: creates it, or applies the config given to the existing stream. */
export async function ensureStream(ctx: ServerContext, ex: Exchange, stream: string): Promise<void> {
  const basin = await ctx.basinOf(ex);
  const name = dataStreamName(basin.name, stream);
  const body = await readJsonBody(ex, ctx.limits.maxBodyBytes, true);
  const patch = patchFromJson(body.config);
  const prefix = basinStreamPrefix(basin.name);
  const existing = await findStream(ctx, name);
  if (existing === undefined) {
    const info = await ctx.basins.whileActive(basin.name, () => ctx.log.createStream(name, newStreamConfig(basin.config.defaultStreamConfig, patch)));
    ex.json(201, streamInfoJson(info, prefix), { "s2-provision-result": "created" });
    return;
  }
  if (Object.keys(patch).length === 0) {
    ex.json(200, streamInfoJson(existing, prefix), { "s2-provision-result": "noop" });
    return;
  }
  const info = await ctx.log.reconfigureStream(name, patch);
  ex.json(200, streamInfoJson(info, prefix), { "s2-provision-result": "updated" });
}

/** GET /streams/{stream} */
export async function getStreamConfig(ctx: ServerContext, ex: Exchange, stream: string): Promise<void> {
  const basin = await ctx.basinOf(ex);
  const name = dataStreamName(basin.name, stream);
  const info = await findStream(ctx, name);
  if (info === undefined) throw new ApiError(404, "stream_not_found", `stream ${JSON.stringify(stream)} does not exist in basin ${JSON.stringify(basin.name)}`);
  ex.json(200, streamConfigJson(info.config));
}

/** PATCH /streams/{stream} */
export async function reconfigureStream(ctx: ServerContext, ex: Exchange, stream: string): Promise<void> {
  const basin = await ctx.basinOf(ex);
  const name = dataStreamName(basin.name, stream);
  const patch = patchFromJson(await readJsonBody(ex, ctx.limits.maxBodyBytes, true), "stream reconfiguration");
  const info = await ctx.log.reconfigureStream(name, patch);
  ex.json(200, streamConfigJson(info.config));
}

/** DELETE /streams/{stream} */
export async function deleteStream(ctx: ServerContext, ex: Exchange, stream: string): Promise<void> {
  const basin = await ctx.basinOf(ex);
  const name = dataStreamName(basin.name, stream);
  try {
    await ctx.log.deleteStream(name);
  } finally {
    ctx.forgetStreams(name);
  }
  ex.send(202, undefined, "");
}
