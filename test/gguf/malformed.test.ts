import { describe, expect, it } from "vitest";
import { GgufFormatError, parseGguf } from "../../src/gguf/index.js";
import { assemble, baseSpec } from "../helpers/ggufBytes.js";
import { malformedCorpus } from "../helpers/malformedCorpus.js";

function parseError(bytes: Uint8Array): unknown {
  try {
    parseGguf(bytes, "test.gguf");
  } catch (error) {
    return error;
  }
  return undefined;
}

describe("GGUF reader on malformed input", () => {
  const corpus = malformedCorpus();

  it("has a corpus of at least 30 distinct malformed files", () => {
    expect(corpus.length).toBeGreaterThanOrEqual(30);
    expect(new Set(corpus.map((c) => Buffer.from(c.bytes).toString("hex"))).size).toBe(corpus.length);
  });

  it("accepts the valid file the corpus is made from", () => {
    const header = parseGguf(assemble(baseSpec()).bytes());
    expect(header.tensors.map((t) => t.name)).toEqual(["a", "b"]);
  });

  it.each(corpus.map((c) => [c.name, c] as const))("%s: names the field and its byte offset", (_, c) => {
    const error = parseError(c.bytes);
    expect(error).toBeInstanceOf(GgufFormatError);
    const formatError = error as GgufFormatError;
    expect(formatError.field).toMatch(c.field);
    expect(formatError.byteOffset).toBe(c.offset);
    expect(formatError.message).toContain(`at byte ${c.offset}`);
    expect(formatError.message).toContain("test.gguf");
  });

  it("rejects every truncation of a valid file with a GgufFormatError", () => {
    const valid = assemble(baseSpec()).bytes();
    const wrongErrors: string[] = [];
    for (let length = 0; length < valid.length; length++) {
      const error = parseError(valid.subarray(0, length));
      if (!(error instanceof GgufFormatError)) wrongErrors.push(`${length}: ${String(error)}`);
    }
    expect(wrongErrors).toEqual([]);
  });

  it("never throws anything but GgufFormatError on random byte corruption", () => {
    const valid = assemble(baseSpec()).bytes();
    let state = 12345;
    const random = () => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state / 2 ** 32;
    };
    const wrongErrors: string[] = [];
    let rejected = 0;
    for (let trial = 0; trial < 3000; trial++) {
      const bytes = valid.slice();
      const flips = 1 + Math.floor(random() * 4);
      for (let f = 0; f < flips; f++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
      const error = parseError(bytes);
      if (error === undefined) continue;
      rejected++;
      if (!(error instanceof GgufFormatError)) wrongErrors.push(`trial ${trial}: ${String(error)}`);
    }
    expect(wrongErrors).toEqual([]);
    expect(rejected).toBeGreaterThan(1000); // most corruptions hit a checked field
  });
});
