/**
 * Issue 13.12: the AWS SDK loads only when an S3 store is used, not on `import "durastream"`
 * (it costs about 100 ms and prints a Node version warning on Node 20).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { spawnTsx } from "../helpers/child-process.js";
import { makeTempDir } from "../helpers/temp-dir.js";

const FIXTURE = "tests/store/fixtures/lazy-sdk.ts";

async function run(args: string[]): Promise<{ lines: string[]; sdkImported: boolean }> {
  const real = spawnTsx(FIXTURE, args, { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import ./tests/helpers/report-aws-sdk-import.mjs` });
  const exit = await real.exited;
  assert.equal(exit.code, 0, real.stderr());
  return { lines: real.lines, sdkImported: real.stderr().includes("aws-sdk imported") };
}

describe("the AWS SDK loads only when an S3 store is used (issue 13.12)", () => {
  it("importing durastream and using memory:// and file:// stores does not load it", async () => {
    const dir = pathToFileURL(await makeTempDir("lazy-sdk")).href;
    const [memory, file] = await Promise.all([run(["memory://"]), run([dir])]);
    assert.deepEqual(memory, { lines: ["opened"], sdkImported: false });
    assert.deepEqual(file, { lines: ["opened"], sdkImported: false });
  });

  it("the first call on an S3Store loads it (the probe sees imports)", async () => {
    assert.deepEqual(await run(["memory://", "touch-s3"]), { lines: ["opened", "s3 used"], sdkImported: true });
  });
});
