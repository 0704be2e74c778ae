// Where the F16 scale fields sit in each block type (ggml-common.h), for tests that corrupt them, and
// notable F16 bit patterns.
import type { BlockQuantType } from "../../src/gguf/index.js";

/** Byte offsets of each type's F16 scale fields inside a block. */
export const SCALE_FIELDS: Record<BlockQuantType, Record<string, number>> = {
  Q8_0: { d: 0 },
  Q4_0: { d: 0 },
  Q5_0: { d: 0 },
  Q4_1: { d: 0, m: 2 },
  Q5_1: { d: 0, m: 2 },
  Q2_K: { d: 80, dmin: 82 },
  Q3_K: { d: 108 },
  Q4_K: { d: 0, dmin: 2 },
  Q5_K: { d: 0, dmin: 2 },
  Q6_K: { d: 208 },
};

/** F16 bit patterns: a quiet NaN, the infinities, and the largest finite value (65504). */
export const F16 = { nan: 0x7e00, inf: 0x7c00, negInf: 0xfc00, max: 0x7bff } as const;
