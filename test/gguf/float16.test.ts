import { describe, expect, it } from "vitest";
import { bfloat16BitsToFloat32, float16BitsToFloat32, float32ToFloat16Bits } from "../../src/gguf/index.js";

// Bit patterns from the IEEE 754 binary16 definition (1 sign, 5 exponent bits with bias 15, 10 mantissa bits).
const KNOWN_F16: Array<[number, number]> = [
  [0, 0x0000],
  [-0, 0x8000],
  [1, 0x3c00],
  [-2, 0xc000],
  [0.5, 0x3800],
  [65504, 0x7bff], // largest finite
  [2 ** -14, 0x0400], // smallest normal
  [2 ** -24, 0x0001], // smallest subnormal
  [2 ** -24 * 1023, 0x03ff], // largest subnormal
  [Infinity, 0x7c00],
  [-Infinity, 0xfc00],
];

describe("F16 conversion", () => {
  it.each(KNOWN_F16)("encodes %d as its IEEE pattern and back", (value, bits) => {
    expect(float32ToFloat16Bits(value)).toBe(bits);
    expect(Object.is(float16BitsToFloat32(bits), value)).toBe(true);
  });

  it("rounds to nearest, ties to even", () => {
    const ulpAt1 = 2 ** -10;
    expect(float32ToFloat16Bits(1 + ulpAt1 / 2)).toBe(0x3c00); // tie, 0x3c00 is even
    expect(float32ToFloat16Bits(1 + 1.5 * ulpAt1)).toBe(0x3c02); // tie, 0x3c02 is even
    expect(float32ToFloat16Bits(1 + 0.6 * ulpAt1)).toBe(0x3c01);
    expect(float32ToFloat16Bits(2 ** -25)).toBe(0x0000); // half the smallest subnormal: tie to even (zero)
    expect(float32ToFloat16Bits(2 ** -25 * 3)).toBe(0x0002); // 1.5 subnormal units: tie to even (2)
    expect(float32ToFloat16Bits(65520)).toBe(0x7c00); // rounds past the largest finite: Inf
    expect(float32ToFloat16Bits(65519)).toBe(0x7bff);
  });

  it("keeps NaN a NaN", () => {
    expect(Number.isNaN(float16BitsToFloat32(float32ToFloat16Bits(NaN)))).toBe(true);
  });

  it("round-trips every finite F16 pattern exactly", () => {
    const mismatches: number[] = [];
    for (let bits = 0; bits < 0x10000; bits++) {
      if ((bits & 0x7c00) === 0x7c00) continue; // Inf/NaN
      if (float32ToFloat16Bits(float16BitsToFloat32(bits)) !== bits) mismatches.push(bits);
    }
    expect(mismatches).toEqual([]);
  });

  it("reads BF16 as the upper half of an F32", () => {
    expect(bfloat16BitsToFloat32(0x3f80)).toBe(1);
    expect(bfloat16BitsToFloat32(0xc040)).toBe(-3);
    expect(bfloat16BitsToFloat32(0x3e20)).toBe(0.15625);
  });
});
