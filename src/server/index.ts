/**
 * `durastream/server`: the S2 REST API over a durastream Log, so that S2's SDKs and tools can
 * use it. A separate entry point: importing `durastream` loads no HTTP code.
 *
 * `startServer()` listens on a port (what `durastream serve` runs); `createS2Api()` builds the
 * handler alone, to mount on an http or http2 server of your own. The design and its choices:
 * docs/decisions/0007-s2-api-server.md.
 */
export { startServer, createS2Api } from "./server.js";
export type { S2Api, S2ApiOptions, S2Server, ServeOptions } from "./server.js";
export { ApiError } from "./api-error.js";
