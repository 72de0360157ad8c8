import { test } from "node:test";
import assert from "node:assert/strict";
import { InternalError, assert as invariant } from "../src/errors.js";

test("errors: a failed invariant throws InternalError, the one route to the engine's failure close", () => {
  assert.throws(() => invariant(false, "the queue went back"), (error: unknown) => {
    assert.ok(error instanceof InternalError);
    assert.equal(error.code, "internal");
    assert.equal(error.outcome, "unknown");
    assert.match(error.message, /the queue went back/);
    return true;
  });
});

test("errors: an invariant's lazy message is built only when it fails", () => {
  let built = 0;
  const message = () => {
    built++;
    return `built ${built}`;
  };
  invariant(true, message);
  assert.equal(built, 0);
  assert.throws(() => invariant(0, message), /built 1/);
  assert.equal(built, 1);
});
