/**
 * Test helper: runs a TypeScript fixture in a child Node process (through tsx) and collects its
 * stdout line by line, so crash and two-writer tests can read what the child acknowledged.
 *
 * Only complete lines count: a child killed in the middle of a line leaves a fragment, which is
 * dropped (the ack it was printing was not fully reported, so the test must not rely on it).
 * A child can be started early and told to go on stdin (`send`), so that loading its modules
 * overlaps other work. Every child started here is SIGKILLed when the test file ends, so a failing test never leaves
 * a writer running on a shared root.
 */
import { after } from "node:test";
import { killAllChildren } from "./child-spawn.js";

export { REPO_ROOT, delay, spawnTsx, type ChildExit, type TsxChild } from "./child-spawn.js";

// Registered when the test file imports this module, so the hook belongs to the file's root
// (registered from inside a running test, it would belong to that test only).
after(killAllChildren);
