// The writer's BF16 and Q8_0 tensors read back as the quantisation rules say: BF16 keeps values that
// are exactly representable and rounds others to the nearest (ties to even); Q8_0 reconstructs every
// value within half a quantisation step of its block (step = max|x| / 127) plus the error of holding
// the scale as F16 (up to 127 steps x 2^-11 relative).
import { describe, expect, it } from "vitest";
import { encodeGguf, GgufFile } from "../../src/gguf/index.js";

function roundTrip(type: "BF16" | "Q8_0", data: Float32Array, dims: number[]): Float32Array {
  const bytes = encodeGguf({ metadata: new Map(), tensors: [{ name: "t", dims, type, data }] });
  const file = GgufFile.fromBytes(bytes);
  try {
    return file.tensorFloat32("t");
  } finally {
    file.close();
  }
}

describe("quantised tensor writing", () => {
  it("BF16 keeps representable values and rounds the rest to nearest even", () => {
    // 1 + 2^-7 is representable; 1 + 2^-8 is a tie between 1 and 1 + 2^-7 and goes to 1 (even);
    // 1 + 3 * 2^-8 is a tie between 1 + 2^-7 and 1 + 2^-6 and goes to 1 + 2^-6 (even).
    const input = Float32Array.from([1 + 2 ** -7, 1 + 2 ** -8, 1 + 3 * 2 ** -8, -2.5, 0]);
    expect(Array.from(roundTrip("BF16", input, [5]))).toEqual([1 + 2 ** -7, 1, 1 + 2 ** -6, -2.5, 0]);
    // A large value keeps 8 significant bits: relative error at most 2^-9.
    expect(Math.abs(roundTrip("BF16", Float32Array.from([3.0e38]), [1])[0]! - 3.0e38) / 3.0e38).toBeLessThanOrEqual(2 ** -9);
  });

  it("Q8_0 reconstructs each value within half a step of its block", () => {
    const data = new Float32Array(64 * 3);
    for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 1.7) * (i < 32 ? 0.01 : i < 96 ? 5 : 300);
    data[100] = 0; // a block with an exact zero
    const back = roundTrip("Q8_0", data, [64, 3]);
    for (let b = 0; b < data.length / 32; b++) {
      const block = data.subarray(b * 32, b * 32 + 32);
      const step = Math.max(...Array.from(block, Math.abs)) / 127;
      for (let j = 0; j < 32; j++) expect(Math.abs(back[b * 32 + j]! - block[j]!)).toBeLessThanOrEqual(step * (0.5 + 127 * 2 ** -11) + 1e-12);
    }
    expect(back[100]).toBe(0);
  });

  it("refuses Q8_0 rows that are not whole blocks", () => {
    expect(() => encodeGguf({ metadata: new Map(), tensors: [{ name: "t", dims: [48], type: "Q8_0", data: new Float32Array(48) }] })).toThrow(/multiple of 32/);
  });
});
