/**
 * Issue 16: a zombie writer slowed at each step (WAL PUT, SST PUT, manifest PUT, LIST, GC
 * DELETE; held before the request arrives, or after it landed with the answer late) while a
 * second writer takes over, works, flushes, compacts and collects. Nothing either writer
 * acknowledged may be lost, no batch may be half there, the zombie must end fenced or closed,
 * and nothing may hang (zombie-writer.ts has the details). On LocalStore every step both ways;
 * on the S3 test server three of them (set S3_ENDPOINT: `bash scripts/s3-test-server.sh env`).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { LocalStore } from "../../src/store/local-store.js";
import { S3Store } from "../../src/store/s3-store.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { createTestBucket, removeTestBucket, s3ConnectionFromEnv } from "../helpers/test-stores.js";
import { runZombieCase, ZOMBIE_STEPS, type ZombieMode, type ZombieStep } from "./zombie-writer.js";

describe("a zombie writer slowed at each step while another takes over: LocalStore", () => {
  for (const step of ZOMBIE_STEPS) {
    for (const mode of ["before", "after"] as const) {
      it(`${step}, held ${mode === "before" ? "before it reaches the store" : "after it landed (late answer)"}`, { timeout: 60_000 }, async () => {
        const result = await runZombieCase(new LocalStore(await makeTempDir("zombie")), step, mode);
        assert.deepEqual(result.problems, [], `${result.problems.join("\n")}\nzombie outcomes ${JSON.stringify(result.w1Outcomes)}`);
      });
    }
  }
});

const s3 = s3ConnectionFromEnv();
describe("a zombie writer slowed at each step while another takes over: S3", () => {
  if (s3 === undefined) {
    it("on S3Store", { skip: "S3_ENDPOINT IS NOT SET: the zombie cases DID NOT RUN ON S3 (`bash scripts/s3-test-server.sh env` prints it)" }, () => {});
    return;
  }
  let bucket = "";
  before(async () => {
    bucket = await createTestBucket(s3, "zombie");
  });
  after(async () => {
    await removeTestBucket(s3, bucket);
  });
  // Three cases keep the S3 run short; LocalStore above runs every step both ways.
  const cases: [ZombieStep, ZombieMode][] = [["wal-put", "after"], ["sst-put", "before"], ["manifest-put", "after"]];
  cases.forEach(([step, mode]) => {
    it(`${step}, held ${mode}`, { timeout: 90_000 }, async () => {
      const result = await runZombieCase(new S3Store({ ...s3, bucket, prefix: `${step}-${mode}/` }), step, mode);
      assert.deepEqual(result.problems, [], `${result.problems.join("\n")}\nzombie outcomes ${JSON.stringify(result.w1Outcomes)}`);
    });
  });
});
