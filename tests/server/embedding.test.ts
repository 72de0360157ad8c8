/**
 * The embedding API: `createS2Api()` mounted on an HTTP server of the caller's own (with a Log
 * the caller opened and keeps), and the import boundary: nothing `durastream` itself imports
 * reaches src/server/ or node:http2, so the library loads no HTTP server code.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as http from "node:http";
import path from "node:path";
import { describe, it } from "node:test";
import { AppendInput, AppendRecord, S2 } from "@s2-dev/streamstore";
import { MemoryStore, openLog } from "../../src/index.js";
import { createS2Api } from "../../src/server/index.js";
import { REPO_ROOT } from "../helpers/child-process.js";

/** Every source file src/index.ts reaches through relative imports. */
function reachable(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, "utf8");
    for (const match of text.matchAll(/(?:from|import)\s*\(?\s*"(\.[^"]+|node:[^"]+)"/g)) {
      const spec = match[1]!;
      if (spec.startsWith("node:")) seen.add(spec);
      else visit(path.resolve(path.dirname(file), spec.replace(/\.js$/, ".ts")));
    }
  };
  visit(entry);
  return seen;
}

describe("embedding the S2 API", () => {
  it("createS2Api() serves the SDK from a caller's own http server and leaves the caller's Log open", async () => {
    const log = await openLog({ store: new MemoryStore() });
    const api = await createS2Api({ log });
    const server = http.createServer((req, res) => api.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const s2 = new S2({ accessToken: "x", endpoints: { account: url, basin: url } });
      await s2.basins.create({ basin: "mounted-basin" });
      await s2.basin("mounted-basin").streams.create({ stream: "s" });
      const stream = s2.basin("mounted-basin").stream("s", { forceTransport: "fetch" });
      const ack = await stream.append(AppendInput.create([AppendRecord.string({ body: "hi" })]));
      assert.equal(ack.end.seqNum, 1);
      await api.close();
      assert.equal(log.health().status, "ok");
      assert.equal((await (await log.openStream("mounted-basin/s")).checkTail()).seqNum, 1);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await log.close();
    }
  });

  it("the library's own imports never reach src/server/ or node:http2", () => {
    const files = reachable(path.join(REPO_ROOT, "src/index.ts"));
    assert.ok(files.size > 20, "the crawl found the library's files");
    const server = [...files].filter((f) => f.includes(`${path.sep}src${path.sep}server${path.sep}`) || f === "node:http2");
    assert.deepEqual(server, []);
  });
});
