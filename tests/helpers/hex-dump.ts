/**
 * Test helper: the readable `.hex` companion of a golden file (offset, 16 bytes in hex, the
 * printable ones as text), so that a format change shows in a review as a diff of lines.
 */
export function hexDump(bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let offset = 0; offset < bytes.length; offset += 16) {
    const row = Buffer.from(bytes.subarray(offset, offset + 16));
    const hex = [...row].map((byte) => byte.toString(16).padStart(2, "0")).join(" ");
    const text = [...row].map((byte) => (byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : ".")).join("");
    lines.push(`${offset.toString(16).padStart(8, "0")}  ${hex.padEnd(47)}  |${text}|`);
  }
  return `${lines.join("\n")}\n`;
}
