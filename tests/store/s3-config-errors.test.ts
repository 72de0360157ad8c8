/**
 * Issue 13.7: a configuration error is not an outage. Errors that no retry can fix (no region,
 * no credentials, an endpoint that is not a URL, refused credentials, a missing bucket) fail
 * `openLog` at once with the cause, instead of being retried for `storeRetryDeadlineMs`; and
 * `openLog` takes a signal that ends the wait for a store that is really down.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AbortedError, FaultyStore, MemoryStore, openLog, S3Store, StorageError } from "../../src/index.js";
import { cliChild } from "../cli/fixtures/cli-harness.js";

const S3_ENDPOINT = process.env.S3_ENDPOINT;
/** Far above what a configuration error may take to surface; far below the 30 s retry deadline. */
const FAST_MS = 5_000;

async function failsFast(open: () => Promise<unknown>, match: RegExp): Promise<void> {
  const startMs = performance.now();
  await assert.rejects(open(), (error: unknown) => {
    assert.ok(error instanceof StorageError, String(error));
    assert.equal(error.retryable, false);
    assert.match(error.message, match);
    assert.match(error.message, /no retry fixes/);
    return true;
  });
  assert.ok(performance.now() - startMs < FAST_MS, `took ${performance.now() - startMs} ms`);
}

describe("S3 configuration errors fail at once (issue 13.7)", () => {
  it("an endpoint that is not a URL", () =>
    failsFast(
      () => openLog({ store: new S3Store({ bucket: "b", endpoint: "not a url", region: "us-east-1", credentials: { accessKeyId: "a", secretAccessKey: "b" } }) }),
      /endpoint is not a valid URL/,
    ));

  it("the CLI without a region, or with a region and no credentials, prints the cause at once", async () => {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: "/nonexistent", S3_ENDPOINT: "http://127.0.0.1:9", AWS_EC2_METADATA_DISABLED: "true" };
    const startMs = performance.now();
    const [noRegion, noCredentials] = await Promise.all([
      cliChild(["ls", "s3://bucket"], "", env),
      cliChild(["ls", "s3://bucket"], "", { ...env, AWS_REGION: "us-east-1" }),
    ]);
    assert.ok(performance.now() - startMs < FAST_MS + 5_000, `took ${performance.now() - startMs} ms`);
    for (const [result, cause] of [[noRegion, /no region/], [noCredentials, /no credentials were found/]] as const) {
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, cause);
      assert.match(result.stderr, /which no retry fixes \(code storage\)$/m);
      assert.doesNotMatch(result.stderr, /retry later|\d\.\d{4,} ms/);
    }
  });

  it("refused credentials and a missing bucket (S3 test server)", { skip: S3_ENDPOINT === undefined ? "S3_ENDPOINT is not set" : false }, async () => {
    const common = { endpoint: S3_ENDPOINT!, region: process.env.AWS_REGION ?? "us-east-1", forcePathStyle: true };
    await failsFast(() => openLog({ store: new S3Store({ ...common, bucket: "durastream-test", credentials: { accessKeyId: "nobody", secretAccessKey: "nothing" } }) }), /credentials were refused/);
    await failsFast(() => openLog({ store: new S3Store({ ...common, bucket: "no-such-bucket-13-7" }) }), /bucket does not exist/);
  });

  it("openLog's signal ends the retries of a store that is down", async () => {
    const faulty = new FaultyStore(new MemoryStore(), { cut: true });
    const controller = new AbortController();
    const opening = openLog({ store: faulty, storeRetryDeadlineMs: 60_000, signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const startMs = performance.now();
    await assert.rejects(opening, (error: unknown) => error instanceof AbortedError);
    assert.ok(performance.now() - startMs < FAST_MS);
  });
});
