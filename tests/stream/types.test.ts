import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { headerText, recordText, type ReadRecord } from "../../src/stream/types.js";

const enc = (s: string) => new TextEncoder().encode(s);

describe("record text helpers", () => {
  const record: ReadRecord = {
    seqNum: 0,
    timestamp: 1,
    headers: [[enc("type"), enc("greeting")], [enc("lang"), enc("fr-é")]],
    body: enc("bonjour 😀"),
  };

  it("decodes the body as UTF-8", () => {
    assert.equal(recordText(record), "bonjour 😀");
    assert.equal(recordText({ body: new Uint8Array(0) }), "");
  });

  it("decodes headers as UTF-8 pairs, in order", () => {
    assert.deepEqual(headerText(record), [["type", "greeting"], ["lang", "fr-é"]]);
  });

  it("replaces invalid UTF-8 with U+FFFD instead of throwing", () => {
    assert.equal(recordText({ body: Uint8Array.of(0x61, 0xff) }), "a\ufffd");
  });
});
