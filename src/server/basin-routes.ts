/** Basin routes: `GET/POST /v1/basins`, `GET/PUT/PATCH/DELETE /v1/basins/{basin}`. */
import { ApiError } from "./api-error.js";
import { basinConfigJson, basinInfoJson } from "./basins.js";
import type { ServerContext } from "./context.js";
import type { Exchange } from "./exchange.js";
import { basinStreamPrefix } from "./names.js";
import { listParams, readJsonBody } from "./request-body.js";

/** GET /basins */
export async function listBasins(ctx: ServerContext, ex: Exchange): Promise<void> {
  const { prefix, startAfter, limit } = listParams(ex.query);
  const page = await ctx.basins.list({ prefix, startAfter, limit });
  ex.json(200, { basins: page.basins.map((b) => basinInfoJson(b, ctx.nowMs())), has_more: page.hasMore });
}

/** POST /basins */
export async function createBasin(ctx: ServerContext, ex: Exchange): Promise<void> {
  const body = await readJsonBody(ex, ctx.limits.maxBodyBytes);
  if (typeof body.basin !== "string") throw new ApiError(400, "bad_json", "`basin` must be a string");
  const token = ex.header("s2-request-token");
  try {
    const { state, outcome } = await ctx.basins.create(body.basin, body.config, "create");
    ctx.rememberCreate(`basin:${body.basin}`, token);
    ex.json(201, basinInfoJson(state, ctx.nowMs()), { "s2-provision-result": outcome });
  } catch (error) {
    // A retry of a create that succeeded (same s2-request-token) is answered as that create.
    if (!(error instanceof ApiError && error.code === "resource_already_exists" && ctx.isRetriedCreate(`basin:${body.basin}`, token))) throw error;
    ex.json(201, basinInfoJson(await ctx.basins.get(body.basin), ctx.nowMs()), { "s2-provision-result": "noop" });
  }
}

/** PUT /basins/{basin} */
export async function ensureBasin(ctx: ServerContext, ex: Exchange, basin: string): Promise<void> {
  const body = await readJsonBody(ex, ctx.limits.maxBodyBytes, true);
  const { state, outcome } = await ctx.basins.create(basin, body.config, "ensure");
  ex.json(outcome === "created" ? 201 : 200, basinInfoJson(state, ctx.nowMs()), { "s2-provision-result": outcome });
}

/** GET /basins/{basin} */
export async function getBasinConfig(ctx: ServerContext, ex: Exchange, basin: string): Promise<void> {
  ex.json(200, basinConfigJson((await ctx.basins.get(basin)).config));
}

/** PATCH /basins/{basin} */
export async function reconfigureBasin(ctx: ServerContext, ex: Exchange, basin: string): Promise<void> {
  const body = await readJsonBody(ex, ctx.limits.maxBodyBytes, true);
  ex.json(200, basinConfigJson((await ctx.basins.reconfigure(basin, body)).config));
}

/** DELETE /basins/{basin} */
export async function deleteBasin(ctx: ServerContext, ex: Exchange, basin: string): Promise<void> {
  try {
    await ctx.basins.delete(basin);
  } finally {
    ctx.forgetStreams(basinStreamPrefix(basin));
  }
  ex.send(202, undefined, "");
}
