/**
 * Test helper: temporary directories under the OS temp dir, removed when the test file ends
 * (unless DURASTREAM_KEEP_TMP=1, to inspect what a failing test left behind).
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after } from "node:test";

const created: string[] = [];

// Registered at import, so the hook runs when the whole test file ends.
after(async () => {
  if (process.env.DURASTREAM_KEEP_TMP === "1") return;
  await Promise.all(created.map((dir) => rm(dir, { recursive: true, force: true })));
});

export async function makeTempDir(label: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `durastream-${label}-`));
  created.push(dir);
  return dir;
}
