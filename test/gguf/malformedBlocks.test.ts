// Block-quantized tensor data that is malformed inside its blocks (the header checks cannot see it):
// NaN or infinite F16 scales, huge scales, random corruption. Dequantizing must give a clear error
// naming the tensor and block, or finite values; never NaN values or a crash.
import { describe, expect, it } from "vitest";
import { BLOCK_QUANT_TYPES, GGML_TYPES_BY_NAME, dequantizeToFloat32, quantizeBlocks, type BlockQuantType } from "../../src/gguf/index.js";
import { SeededRandom } from "../../src/util/seededRandom.js";
import { F16, SCALE_FIELDS } from "../helpers/quantBlocks.js";


function validBlocks(type: BlockQuantType): { bytes: Uint8Array; count: number } {
  const count = 1024;
  return { bytes: quantizeBlocks(type, new SeededRandom(3, type).normalArray(count, 1)), count };
}

function dequantize(type: BlockQuantType, bytes: Uint8Array, count: number): Float32Array {
  return dequantizeToFloat32(GGML_TYPES_BY_NAME.get(type)!, bytes, count, "t");
}

describe("malformed quantized blocks", () => {
  it.each(BLOCK_QUANT_TYPES)("%s: a NaN or infinite scale in a block is an error naming the block; the largest F16 scale gives finite values", (type) => {
    const { bytes, count } = validBlocks(type);
    const blockBytes = GGML_TYPES_BY_NAME.get(type)!.blockBytes;
    for (const [field, at] of Object.entries(SCALE_FIELDS[type])) {
      for (const bits of [F16.nan, F16.inf, F16.negInf]) {
        const bad = bytes.slice();
        new DataView(bad.buffer).setUint16(2 * blockBytes + at, bits, true);
        expect(() => dequantize(type, bad, count), `${field} = 0x${bits.toString(16)}`).toThrow(new RegExp(`tensor 't': ${type} block 2 has a non-finite`));
      }
      const huge = bytes.slice();
      for (let b = 0; b < bytes.length / blockBytes; b++) new DataView(huge.buffer).setUint16(b * blockBytes + at, F16.max, true);
      expect(dequantize(type, huge, count).every(Number.isFinite), `${field} = 65504 everywhere`).toBe(true);
    }
  });

  it.each(BLOCK_QUANT_TYPES)("%s: random corruption gives finite values or the clear error, never anything else", (type) => {
    const { bytes, count } = validBlocks(type);
    const random = new SeededRandom(11, type);
    let rejected = 0;
    for (let trial = 0; trial < 400; trial++) {
      const bad = bytes.slice();
      for (let f = 0, flips = 1 + Math.floor(random.next() * 4); f < flips; f++) bad[Math.floor(random.next() * bad.length)] = Math.floor(random.next() * 256);
      try {
        expect(dequantize(type, bad, count).every(Number.isFinite)).toBe(true);
      } catch (error) {
        expect(String(error)).toMatch(/has a non-finite \(NaN or infinite\) F16 scale; the file is corrupt/);
        rejected++;
      }
    }
    expect(rejected).toBeLessThan(400); // most corruptions leave the scales finite
  });
});
