import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { runStoreSuite } from "./conformance.js";
import { LocalStore } from "../../src/store/local-store.js";

runStoreSuite("LocalStore", async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), "durastream-local-"));
  return { store: new LocalStore(root), cleanup: () => rm(root, { recursive: true, force: true }) };
});
