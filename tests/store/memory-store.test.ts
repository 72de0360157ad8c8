import { runStoreSuite } from "./conformance.js";
import { MemoryStore } from "../../src/store/memory-store.js";

runStoreSuite("MemoryStore", async () => ({ store: new MemoryStore() }));
