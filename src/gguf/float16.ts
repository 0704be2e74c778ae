// IEEE half (F16) and bfloat16 (BF16) conversions. Node 20 has no Float16Array, so F16 tensors are
// carried as Uint16Array bit patterns and converted here.

const scratchFloat = new Float32Array(1);
const scratchBits = new Uint32Array(scratchFloat.buffer);

/** Rounds a number to the nearest F16 (ties to even) and returns its 16-bit pattern. */
export function float32ToFloat16Bits(value: number): number {
  scratchFloat[0] = value;
  const bits = scratchBits[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0); // Inf stays Inf, NaN stays NaN
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00; // too large: Inf
  if (halfExponent <= 0) {
    // F16 subnormal (or zero): the value in units of 2^-24, rounded to nearest even.
    if (halfExponent < -10) return sign;
    const full = mantissa | 0x800000;
    const shift = 14 - halfExponent;
    return sign | roundShiftRightEven(full, shift);
  }
  // Adding the rounded mantissa lets a carry move into the exponent (up to Inf), which is the right encoding.
  return (sign | (halfExponent << 10)) + roundShiftRightEven(mantissa, 13);
}

function roundShiftRightEven(value: number, shift: number): number {
  const kept = value >>> shift;
  const rest = value & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return rest > half || (rest === half && (kept & 1) === 1) ? kept + 1 : kept;
}

/** The value of a 16-bit F16 pattern. */
export function float16BitsToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa !== 0 ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** The value of a 16-bit BF16 pattern (the upper half of an F32). */
export function bfloat16BitsToFloat32(bits: number): number {
  scratchBits[0] = (bits & 0xffff) << 16;
  return scratchFloat[0]!;
}

/** Rounds a number to the nearest BF16 (ties to even, as ggml converts) and returns its 16-bit pattern. */
export function float32ToBfloat16Bits(value: number): number {
  scratchFloat[0] = value;
  const bits = scratchBits[0]!;
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x40) & 0xffff; // NaN stays a quiet NaN
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** BF16 patterns of a whole array, in a plain loop (`Uint16Array.from(data, fn)` runs out of heap on 100M values). */
export function float32ArrayToBfloat16Bits(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float32ToBfloat16Bits(values[i]!);
  return out;
}

export function float32ArrayToFloat16Bits(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float32ToFloat16Bits(values[i]!);
  return out;
}
