// Tensor bytes -> Float32Array for every storage type this project reads: F32, F16, BF16, and the
// block-quantized types of quants.ts (Q8_0, Q4_0 .. Q6_K).
import { bfloat16BitsToFloat32, float16BitsToFloat32 } from "./float16.js";
import { dequantizeBlocks, isBlockQuantType } from "./quants.js";
import type { GgmlTypeInfo } from "./types.js";

export function dequantizeToFloat32(type: GgmlTypeInfo, bytes: Uint8Array, elementCount: number, tensorName: string): Float32Array {
  const expectedBytes = (elementCount / type.blockSize) * type.blockBytes;
  if (bytes.length !== expectedBytes) {
    throw new Error(`tensor '${tensorName}': ${bytes.length} bytes given for ${elementCount} ${type.name} elements (expected ${expectedBytes})`);
  }
  if (isBlockQuantType(type.name)) {
    const values = dequantizeBlocks(type.name, bytes, elementCount);
    // Finite scales give finite values (at most 65504 x 63 x 31), so a non-finite value is a NaN or
    // infinite F16 scale in its block.
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new Error(`tensor '${tensorName}': ${type.name} block ${Math.floor(bad / type.blockSize)} has a non-finite (NaN or infinite) F16 scale; the file is corrupt`);
    return values;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(elementCount);
  switch (type.name) {
    case "F32":
      for (let i = 0; i < elementCount; i++) out[i] = view.getFloat32(4 * i, true);
      return out;
    case "F16":
      for (let i = 0; i < elementCount; i++) out[i] = float16BitsToFloat32(view.getUint16(2 * i, true));
      return out;
    case "BF16":
      for (let i = 0; i < elementCount; i++) out[i] = bfloat16BitsToFloat32(view.getUint16(2 * i, true));
      return out;
    default:
      throw new Error(`tensor '${tensorName}': reading ${type.name} as float32 is not supported (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K are)`);
  }
}
