// Tensor bytes -> Float32Array for the storage types this project reads: F32, F16, BF16 and Q8_0.
import { bfloat16BitsToFloat32, float16BitsToFloat32 } from "./float16.js";
import type { GgmlTypeInfo } from "./types.js";

/** Q8_0 block: an F16 scale d, then 32 int8 quants; value = d * q. */
const Q8_0_BLOCK = 32;
const Q8_0_BLOCK_BYTES = 34;

export function dequantizeToFloat32(type: GgmlTypeInfo, bytes: Uint8Array, elementCount: number, tensorName: string): Float32Array {
  const expectedBytes = (elementCount / type.blockSize) * type.blockBytes;
  if (bytes.length !== expectedBytes) {
    throw new Error(`tensor '${tensorName}': ${bytes.length} bytes given for ${elementCount} ${type.name} elements (expected ${expectedBytes})`);
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
    case "Q8_0":
      for (let block = 0; block < elementCount / Q8_0_BLOCK; block++) {
        const at = block * Q8_0_BLOCK_BYTES;
        const scale = float16BitsToFloat32(view.getUint16(at, true));
        for (let j = 0; j < Q8_0_BLOCK; j++) out[block * Q8_0_BLOCK + j] = scale * view.getInt8(at + 2 + j);
      }
      return out;
    default:
      throw new Error(`tensor '${tensorName}': reading ${type.name} as float32 is not supported (F32, F16, BF16, Q8_0 are)`);
  }
}
