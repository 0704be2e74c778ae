// ggml's block-quantized tensor types: their block layouts (ggml-common.h), dequantization, and
// quantizers that follow ggml's reference quantizers (ggml-quants.c, quantize_row_*_ref; no importance
// matrix) operation for operation in float32, so a tensor written here has the bytes llama-quantize's
// reference path would give for the same float32 values (test/gguf/quantsVsGgml.test.ts checks that
// against ggml's own library). Values are laid out as ggml lays them out; each codec's comment gives
// where value i of a block lives.
import { float16BitsToFloat32, float32ToFloat16Bits } from "./float16.js";

export type BlockQuantType = "Q8_0" | "Q4_0" | "Q4_1" | "Q5_0" | "Q5_1" | "Q2_K" | "Q3_K" | "Q4_K" | "Q5_K" | "Q6_K";

interface BlockCodec {
  values: number;
  bytes: number;
  /** Writes the block for x (block values) at out[at..]. */
  quantize(x: Float32Array, out: Uint8Array, at: number): void;
  /** Writes the block at bytes[at..]'s values to out[o..]. */
  dequantize(bytes: Uint8Array, at: number, out: Float32Array, o: number): void;
}

const f = Math.fround;
/** ggml's nearest_int: round half to even through a float32 add of 1.5 * 2^23. */
const nearestInt = (v: number) => f(v + 12582912) - 12582912;
const clamp = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, v));
/** A float rounded to F16 and back, as GGML_FP32_TO_FP16 then GGML_FP16_TO_FP32 give it. */
const viaF16 = (v: number) => float16BitsToFloat32(float32ToFloat16Bits(v));
const GROUP_MAX_EPS = 1e-15;

function half(bytes: Uint8Array, at: number): number {
  return float16BitsToFloat32(bytes[at]! | (bytes[at + 1]! << 8));
}
function putHalf(out: Uint8Array, at: number, v: number): void {
  const h = float32ToFloat16Bits(v);
  out[at] = h & 0xff;
  out[at + 1] = h >>> 8;
}

/** The value of largest magnitude in x (the first one on ties), and that magnitude. */
function signedMax(x: ArrayLike<number>, from: number, n: number): { max: number; amax: number } {
  let max = 0;
  let amax = 0;
  for (let i = from; i < from + n; i++) {
    const ax = Math.abs(x[i]!);
    if (ax > amax) {
      amax = ax;
      max = x[i]!;
    }
  }
  return { max, amax };
}

function minMax(x: Float32Array): { min: number; max: number } {
  let min = Number.MAX_VALUE;
  let max = -Number.MAX_VALUE;
  for (const v of x) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min: f(min), max: f(max) };
}

// ---- 32-value blocks -----------------------------------------------------------------------------

/** Q8_0: d (F16), qs[32] int8; value d * q. */
const q8_0: BlockCodec = {
  values: 32,
  bytes: 34,
  quantize(x, out, at) {
    let amax = 0;
    for (const v of x) amax = Math.max(amax, Math.abs(v));
    const d = f(amax / 127);
    const id = d !== 0 ? f(1 / d) : 0;
    putHalf(out, at, d);
    for (let j = 0; j < 32; j++) {
      const v = f(x[j]! * id);
      out[at + 2 + j] = (Math.sign(v) * Math.round(Math.abs(v))) & 0xff; // roundf: halves away from zero
    }
  },
  dequantize(bytes, at, out, o) {
    const d = half(bytes, at);
    for (let j = 0; j < 32; j++) out[o + j] = f(d * ((bytes[at + 2 + j]! << 24) >> 24));
  },
};

/**
 * The 4/5-bit 32-value types: d (F16), [m (F16)], [qh: bit i = fifth bit of value i], qs[16] with
 * value i < 16 in the low nibble of qs[i] and value i >= 16 in the high nibble of qs[i - 16].
 * Q4_0: d * (q - 8); Q4_1: d * q + m; Q5_0: d * (q - 16); Q5_1: d * q + m.
 */
function legacyCodec(bits: 4 | 5, withMin: boolean): BlockCodec {
  const qhAt = withMin ? 4 : 2;
  const qsAt = qhAt + (bits === 5 ? 4 : 0);
  const levels = 1 << bits;
  return {
    values: 32,
    bytes: qsAt + 16,
    quantize(x, out, at) {
      let d: number;
      let origin: number; // subtracted before scaling
      let offset: number; // added to the scaled value before truncation
      if (withMin) {
        const { min, max } = minMax(x);
        d = f(f(max - min) / (levels - 1));
        origin = min;
        offset = 0.5;
        putHalf(out, at + 2, min);
      } else {
        d = f(signedMax(x, 0, 32).max / -(levels / 2));
        origin = 0;
        offset = levels / 2 + 0.5;
      }
      const id = d !== 0 ? f(1 / d) : 0;
      putHalf(out, at, d);
      let qh = 0;
      for (let j = 0; j < 32; j++) {
        const scaled = f(f(x[j]! - origin) * id);
        let q = Math.trunc(f(scaled + offset));
        // Q5_1's reference keeps the truncated value as it is; the others clamp to the top level.
        if (!(withMin && bits === 5)) q = Math.min(levels - 1, q);
        q &= 0xff;
        const k = j % 16;
        out[at + qsAt + k] = j < 16 ? q & 0xf : out[at + qsAt + k]! | ((q & 0xf) << 4);
        if (bits === 5) qh |= ((q >> 4) & 1) << j;
      }
      if (bits === 5) for (let b = 0; b < 4; b++) out[at + qhAt + b] = (qh >>> (8 * b)) & 0xff;
    },
    dequantize(bytes, at, out, o) {
      const d = half(bytes, at);
      const m = withMin ? half(bytes, at + 2) : 0;
      const qh = bits === 5 ? (bytes[at + qhAt]! | (bytes[at + qhAt + 1]! << 8) | (bytes[at + qhAt + 2]! << 16) | (bytes[at + qhAt + 3]! << 24)) >>> 0 : 0;
      for (let j = 0; j < 32; j++) {
        const byte = bytes[at + qsAt + (j % 16)]!;
        let q = j < 16 ? byte & 0xf : byte >> 4;
        if (bits === 5) q |= ((qh >>> j) & 1) << 4;
        out[o + j] = withMin ? f(f(q * d) + m) : f((q - levels / 2) * d);
      }
    },
  };
}

// ---- K-quants: 256-value super-blocks ------------------------------------------------------------

/**
 * ggml's make_qkx2_quants: levels 0..nmax with a scale and a min for n values, searched over nstep + 1
 * candidate scales, minimizing the weighted error (absolute when useMad). Returns the scale and
 * minus the min; L receives the levels.
 */
function makeQkx2Quants(x: Float32Array, weights: Float32Array, nmax: number, L: Uint8Array, rmin: number, rdelta: number, nstep: number, useMad: boolean): { scale: number; theMin: number } {
  const n = x.length;
  let min = x[0]!;
  let max = x[0]!;
  let sumW = weights[0]!;
  let sumX = f(sumW * x[0]!);
  for (let i = 1; i < n; i++) {
    if (x[i]! < min) min = x[i]!;
    if (x[i]! > max) max = x[i]!;
    const w = weights[i]!;
    sumW = f(sumW + w);
    sumX = f(sumX + f(w * x[i]!));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0);
    return { scale: 0, theMin: -min };
  }
  const error = (scale: number, mn: number, levels: ArrayLike<number>) => {
    let e = 0;
    for (let i = 0; i < n; i++) {
      let diff = f(f(f(scale * levels[i]!) + mn) - x[i]!);
      diff = useMad ? Math.abs(diff) : f(diff * diff);
      e = f(e + f(weights[i]! * diff));
    }
    return e;
  };
  let iscale = f(nmax / f(max - min));
  let scale = f(1 / iscale);
  for (let i = 0; i < n; i++) L[i] = clamp(nearestInt(f(iscale * f(x[i]! - min))), 0, nmax);
  let bestError = error(scale, min, L);
  const aux = new Uint8Array(n);
  for (let is = 0; is <= nstep; is++) {
    iscale = f(f(f(rmin + f(f(rdelta) * is)) + nmax) / f(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const l = clamp(nearestInt(f(iscale * f(x[i]! - min))), 0, nmax);
      aux[i] = l;
      const wl = f(weights[i]! * l);
      sumL = f(sumL + wl);
      sumL2 = f(sumL2 + f(wl * l));
      sumXL = f(sumXL + f(wl * x[i]!));
    }
    const D = f(f(sumW * sumL2) - f(sumL * sumL));
    if (!(D > 0)) continue;
    let thisScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / D);
    let thisMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / D);
    if (thisMin > 0) {
      thisMin = 0;
      thisScale = f(sumXL / sumL2);
    }
    const curError = error(thisScale, thisMin, aux);
    if (curError < bestError) {
      L.set(aux);
      bestError = curError;
      scale = thisScale;
      min = thisMin;
    }
  }
  return { scale, theMin: -min };
}

/** makeQkx2Quants on each `size`-value sub-block of a super-block: their scales and mins, and the largest of each. */
function qkx2SubBlocks(x: Float32Array, size: number, L: Uint8Array, weightsOf: (xs: Float32Array) => Float32Array,
  o: { nmax: number; rmin: number; nstep: number; useMad: boolean }): { scales: Float32Array; mins: Float32Array; maxScale: number; maxMin: number } {
  const n = x.length / size;
  const scales = new Float32Array(n);
  const mins = new Float32Array(n);
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < n; j++) {
    const xs = x.subarray(size * j, size * j + size);
    const r = makeQkx2Quants(xs, weightsOf(xs), o.nmax, L.subarray(size * j, size * j + size), o.rmin, 0.1, o.nstep, o.useMad);
    scales[j] = r.scale;
    mins[j] = r.theMin;
    if (scales[j]! > maxScale) maxScale = scales[j]!;
    if (mins[j]! > maxMin) maxMin = mins[j]!;
  }
  return { scales, mins, maxScale, maxMin };
}

/** Signed levels round(iscale x) in [-nmax, nmax - 1] and their x^2-weighted sums sum(w x l), sum(w l^2). */
function levelSums(x: Float32Array, iscale: number, nmax: number): { levels: Int32Array; sumlx: number; suml2: number } {
  const levels = new Int32Array(x.length);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < x.length; i++) {
    const l = clamp(nearestInt(f(iscale * x[i]!)), -nmax, nmax - 1);
    levels[i] = l;
    const w = f(x[i]! * x[i]!);
    sumlx = f(sumlx + f(f(w * x[i]!) * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  return { levels, sumlx, suml2 };
}

/** The value of largest magnitude of a group, or null (and L zeroed) when all are below GROUP_MAX_EPS. */
function groupMax(x: Float32Array, L: Int8Array): number | null {
  const { max, amax } = signedMax(x, 0, x.length);
  if (amax >= GROUP_MAX_EPS) return max;
  L.fill(0);
  return null;
}

/** ggml's make_q3_quants with its RMSE refinement: signed levels -nmax..nmax-1 (stored + nmax) for n values. */
function makeQ3Quants(x: Float32Array, nmax: number, L: Int8Array): number {
  const max = groupMax(x, L);
  if (max === null) return 0;
  const first = levelSums(x, f(-nmax / max), nmax);
  L.set(first.levels);
  let { sumlx, suml2 } = first;
  for (let itry = 0; itry < 5; itry++) {
    let changed = 0;
    for (let i = 0; i < x.length; i++) {
      const w = f(x[i]! * x[i]!);
      let slx = f(sumlx - f(f(w * x[i]!) * L[i]!));
      if (!(slx > 0)) continue;
      let sl2 = f(suml2 - f(f(w * L[i]!) * L[i]!));
      const newL = clamp(nearestInt(f(f(x[i]! * sl2) / slx)), -nmax, nmax - 1);
      if (newL === L[i]) continue;
      slx = f(slx + f(f(w * x[i]!) * newL));
      sl2 = f(sl2 + f(f(w * newL) * newL));
      if (sl2 > 0 && f(f(slx * slx) * suml2) > f(f(sumlx * sumlx) * sl2)) {
        L[i] = newL;
        sumlx = slx;
        suml2 = sl2;
        changed++;
      }
    }
    if (changed === 0) break;
  }
  for (let i = 0; i < x.length; i++) L[i] = L[i]! + nmax;
  return suml2 > 0 ? f(sumlx / suml2) : 0;
}

/** ggml's make_qx_quants with rmse_type 1 (weights x^2) and no importance: signed levels stored + nmax. */
function makeQxQuants(x: Float32Array, nmax: number, L: Int8Array): number {
  const max = groupMax(x, L);
  if (max === null) return 0;
  const first = levelSums(x, f(-nmax / max), nmax);
  first.levels.forEach((l, i) => (L[i] = l + nmax));
  let scale = first.suml2 ? f(first.sumlx / first.suml2) : 0;
  let best = f(scale * first.sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    const { levels, sumlx, suml2 } = levelSums(x, f(-f(nmax + f(f(0.1) * is)) / max), nmax);
    if (suml2 > 0 && f(sumlx * sumlx) > f(best * suml2)) {
      levels.forEach((l, i) => (L[i] = l + nmax));
      scale = f(sumlx / suml2);
      best = f(scale * sumlx);
    }
  }
  return scale;
}

/** The scale of each 16-value group of a super-block. */
function groupScales(x: Float32Array, scaleOf: (group: number) => number): Float32Array {
  const scales = new Float32Array(16);
  for (let g = 0; g < 16; g++) scales[g] = scaleOf(g);
  return scales;
}

/** Packs 2-bit levels L[256] as Q2_K/Q3_K do: value 128n + 32s + l in bits 2s of byte 32n + l. */
function pack2bit(L: ArrayLike<number>, out: Uint8Array, at: number): void {
  for (let n = 0; n < 2; n++)
    for (let l = 0; l < 32; l++) {
      const j = 128 * n + l;
      out[at + 32 * n + l] = L[j]! | (L[j + 32]! << 2) | (L[j + 64]! << 4) | (L[j + 96]! << 6);
    }
}
const unpack2bit = (bytes: Uint8Array, at: number, i: number) => (bytes[at + 32 * (i >> 7) + (i & 31)]! >> (2 * ((i & 127) >> 5))) & 3;

/**
 * Q2_K (84 bytes): scales[16] (per 16 values: low nibble scale, high nibble min), qs[64] (2-bit, see
 * pack2bit), d, dmin (F16); value (d * scale) * q - dmin * min.
 */
const q2_K: BlockCodec = {
  values: 256,
  bytes: 84,
  quantize(x, out, at) {
    const L = new Uint8Array(256);
    const { scales, mins, maxScale, maxMin } = qkx2SubBlocks(x, 16, L, (xs) => xs.map(Math.abs), { nmax: 3, rmin: -0.5, nstep: 15, useMad: true });
    const sc = new Uint8Array(16);
    if (maxScale > 0) {
      const iscale = f(15 / maxScale);
      for (let j = 0; j < 16; j++) sc[j] = nearestInt(f(iscale * scales[j]!));
    }
    putHalf(out, at + 80, maxScale > 0 ? f(maxScale / 15) : 0);
    if (maxMin > 0) {
      const iscale = f(15 / maxMin);
      for (let j = 0; j < 16; j++) sc[j] = sc[j]! | (nearestInt(f(iscale * mins[j]!)) << 4);
    }
    putHalf(out, at + 82, maxMin > 0 ? f(maxMin / 15) : 0);
    out.set(sc, at);
    const d = half(out, at + 80);
    const dmin = half(out, at + 82);
    for (let j = 0; j < 16; j++) {
      const dl = f(d * (sc[j]! & 0xf));
      if (dl === 0) continue;
      const ml = f(dmin * (sc[j]! >> 4));
      for (let i = 0; i < 16; i++) L[16 * j + i] = clamp(nearestInt(f(f(x[16 * j + i]! + ml) / dl)), 0, 3);
    }
    pack2bit(L, out, at + 16);
  },
  dequantize(bytes, at, out, o) {
    const d = half(bytes, at + 80);
    const dmin = half(bytes, at + 82);
    for (let i = 0; i < 256; i++) {
      const sc = bytes[at + (i >> 4)]!;
      out[o + i] = f(f(f(d * (sc & 0xf)) * unpack2bit(bytes, at + 16, i)) - f(dmin * (sc >> 4)));
    }
  },
};

/** The 6-bit scale of 16-value group g of a Q3_K block (offset 32): low nibbles then 2 high bits. */
function q3Scale(bytes: Uint8Array, at: number, g: number): number {
  const low = g < 8 ? bytes[at + g]! & 0xf : bytes[at + g - 8]! >> 4;
  return (low | (((bytes[at + 8 + (g % 4)]! >> (2 * (g >> 2))) & 3) << 4)) - 32;
}

/**
 * Q3_K (110 bytes): hmask[32] (value i's high bit in bit i / 32 of byte i % 32), qs[64] (2 low bits,
 * see pack2bit), scales[12] (6-bit per 16 values, offset 32), d (F16); value (d * scale) * (q - 4 * !high).
 */
const q3_K: BlockCodec = {
  values: 256,
  bytes: 110,
  quantize(x, out, at) {
    const L = new Int8Array(256);
    const scales = groupScales(x, (g) => makeQ3Quants(x.subarray(16 * g, 16 * g + 16), 4, L.subarray(16 * g, 16 * g + 16)));
    const maxScale = signedMax(scales, 0, 16).max;
    const sc = at + 96;
    out.fill(0, at, at + 110);
    if (maxScale !== 0) {
      const iscale = f(-32 / maxScale);
      for (let j = 0; j < 16; j++) {
        let l = (nearestInt(f(iscale * scales[j]!)) << 24) >> 24; // held in an int8_t
        l = clamp(l, -32, 31) + 32;
        if (j < 8) out[sc + j] = l & 0xf;
        else out[sc + j - 8] = out[sc + j - 8]! | ((l & 0xf) << 4);
        out[sc + 8 + (j % 4)] = out[sc + 8 + (j % 4)]! | ((l >> 4) << (2 * (j >> 2)));
      }
      putHalf(out, at + 108, f(1 / iscale));
    } else {
      putHalf(out, at + 108, 0);
    }
    const d = half(out, at + 108);
    for (let j = 0; j < 16; j++) {
      const dl = f(d * q3Scale(out, sc, j));
      if (dl === 0) continue;
      for (let i = 0; i < 16; i++) L[16 * j + i] = clamp(nearestInt(f(x[16 * j + i]! / dl)), -4, 3) + 4;
    }
    for (let j = 0; j < 256; j++) {
      if (L[j]! > 3) {
        out[at + (j % 32)] = out[at + (j % 32)]! | (1 << (j >> 5));
        L[j] = L[j]! - 4;
      }
    }
    pack2bit(L, out, at + 32);
  },
  dequantize(bytes, at, out, o) {
    const d = half(bytes, at + 108);
    for (let i = 0; i < 256; i++) {
      const high = (bytes[at + (i & 31)]! >> (i >> 5)) & 1;
      out[o + i] = f(f(d * q3Scale(bytes, at + 96, i >> 4)) * (unpack2bit(bytes, at + 32, i) - (high ? 0 : 4)));
    }
  },
};

/** The 6-bit scale and min of 32-value sub-block j of a Q4_K/Q5_K block (ggml's get_scale_min_k4). */
function scaleMinK4(bytes: Uint8Array, at: number, j: number): { sc: number; m: number } {
  if (j < 4) return { sc: bytes[at + j]! & 63, m: bytes[at + j + 4]! & 63 };
  return {
    sc: (bytes[at + j + 4]! & 0xf) | ((bytes[at + j - 4]! >> 6) << 4),
    m: (bytes[at + j + 4]! >> 4) | ((bytes[at + j]! >> 6) << 4),
  };
}

/**
 * Q4_K (144 bytes) and Q5_K (176): d, dmin (F16), scales[12] (6-bit scale and min per 32 values), for
 * Q5_K qh[32] (value 64j + 32h + l has its fifth bit in bit 2j + h of qh[l]), qs[128] (value
 * 64j + l in the low nibble of qs[32j + l], 64j + 32 + l in the high nibble); value (d * sc) * q - dmin * m.
 */
function kCodec(bits: 4 | 5): BlockCodec {
  const nmax = (1 << bits) - 1;
  const qsAt = bits === 4 ? 16 : 48;
  const [rmin, nstep] = bits === 4 ? [-1, 20] : [-0.5, 15];
  const level = (bytes: Uint8Array, at: number, i: number) => {
    const j = i >> 6;
    const h = (i >> 5) & 1;
    const byte = bytes[at + qsAt + 32 * j + (i & 31)]!;
    const low = h ? byte >> 4 : byte & 0xf;
    return bits === 4 ? low : low | (((bytes[at + 16 + (i & 31)]! >> (2 * j + h)) & 1) << 4);
  };
  return {
    values: 256,
    bytes: bits === 4 ? 144 : 176,
    quantize(x, out, at) {
      const L = new Uint8Array(256);
      // Weights: the sub-block's RMS plus each value's magnitude.
      const weightsOf = (xs: Float32Array) => {
        let sumX2 = 0;
        for (const v of xs) sumX2 = f(sumX2 + f(v * v));
        const avX = f(Math.sqrt(f(sumX2 / 32)));
        return xs.map((v) => f(avX + Math.abs(v)));
      };
      const { scales, mins, maxScale, maxMin } = qkx2SubBlocks(x, 32, L, weightsOf, { nmax, rmin, nstep, useMad: false });
      out.fill(0, at, at + this.bytes);
      const invScale = maxScale > 0 ? f(63 / maxScale) : 0;
      const invMin = maxMin > 0 ? f(63 / maxMin) : 0;
      const sc = at + 4;
      for (let j = 0; j < 8; j++) {
        const ls = Math.min(63, nearestInt(f(invScale * scales[j]!)) & 0xff);
        const lm = Math.min(63, nearestInt(f(invMin * mins[j]!)) & 0xff);
        if (j < 4) {
          out[sc + j] = ls;
          out[sc + j + 4] = lm;
        } else {
          out[sc + j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
          out[sc + j - 4] = out[sc + j - 4]! | ((ls >> 4) << 6);
          out[sc + j] = out[sc + j]! | ((lm >> 4) << 6);
        }
      }
      putHalf(out, at, f(maxScale / 63));
      putHalf(out, at + 2, f(maxMin / 63));
      const d = half(out, at);
      const dmin = half(out, at + 2);
      for (let j = 0; j < 8; j++) {
        const { sc: s, m } = scaleMinK4(out, sc, j);
        const dl = f(d * s);
        if (dl === 0) continue;
        const dm = f(dmin * m);
        for (let i = 0; i < 32; i++) L[32 * j + i] = clamp(nearestInt(f(f(x[32 * j + i]! + dm) / dl)), 0, nmax);
      }
      for (let j = 0; j < 4; j++)
        for (let l = 0; l < 32; l++) {
          let l1 = L[64 * j + l]!;
          let l2 = L[64 * j + 32 + l]!;
          if (bits === 5) {
            if (l1 > 15) {
              l1 -= 16;
              out[at + 16 + l] = out[at + 16 + l]! | (1 << (2 * j));
            }
            if (l2 > 15) {
              l2 -= 16;
              out[at + 16 + l] = out[at + 16 + l]! | (2 << (2 * j));
            }
          }
          out[at + qsAt + 32 * j + l] = l1 | (l2 << 4);
        }
    },
    dequantize(bytes, at, out, o) {
      const d = half(bytes, at);
      const dmin = half(bytes, at + 2);
      for (let i = 0; i < 256; i++) {
        const { sc, m } = scaleMinK4(bytes, at + 4, i >> 5);
        out[o + i] = f(f(f(d * sc) * level(bytes, at, i)) - f(dmin * m));
      }
    },
  };
}

/**
 * Q6_K (210 bytes): ql[128], qh[64], scales[16] (int8, per 16 values), d (F16). Value 128n + 32k + l:
 * low 4 bits in ql[64n + 32(k % 2) + l] (low nibble for k < 2, high for k >= 2), high 2 bits in bits
 * 2k of qh[32n + l]; value (d * scale) * (q - 32).
 */
const q6_K: BlockCodec = {
  values: 256,
  bytes: 210,
  quantize(x, out, at) {
    const L = new Int8Array(256);
    const scales = groupScales(x, (g) => makeQxQuants(x.subarray(16 * g, 16 * g + 16), 32, L.subarray(16 * g, 16 * g + 16)));
    const { max: maxScale, amax: maxAbsScale } = signedMax(scales, 0, 16);
    out.fill(0, at, at + 210);
    if (maxAbsScale < GROUP_MAX_EPS) return;
    const iscale = f(-128 / maxScale);
    putHalf(out, at + 208, f(1 / iscale));
    for (let g = 0; g < 16; g++) out[at + 192 + g] = Math.min(127, nearestInt(f(iscale * scales[g]!))) & 0xff;
    const d = half(out, at + 208);
    for (let g = 0; g < 16; g++) {
      const dl = f(d * ((out[at + 192 + g]! << 24) >> 24));
      if (dl === 0) continue;
      for (let i = 0; i < 16; i++) L[16 * g + i] = clamp(nearestInt(f(x[16 * g + i]! / dl)), -32, 31) + 32;
    }
    for (let n = 0; n < 2; n++)
      for (let l = 0; l < 32; l++) {
        const q = (k: number) => L[128 * n + 32 * k + l]!;
        out[at + 64 * n + l] = (q(0) & 0xf) | ((q(2) & 0xf) << 4);
        out[at + 64 * n + 32 + l] = (q(1) & 0xf) | ((q(3) & 0xf) << 4);
        out[at + 128 + 32 * n + l] = (q(0) >> 4) | ((q(1) >> 4) << 2) | ((q(2) >> 4) << 4) | ((q(3) >> 4) << 6);
      }
  },
  dequantize(bytes, at, out, o) {
    const d = half(bytes, at + 208);
    for (let i = 0; i < 256; i++) {
      const n = i >> 7;
      const k = (i >> 5) & 3;
      const l = i & 31;
      const low = bytes[at + 64 * n + 32 * (k % 2) + l]!;
      const q = (k < 2 ? low & 0xf : low >> 4) | (((bytes[at + 128 + 32 * n + l]! >> (2 * k)) & 3) << 4);
      out[o + i] = f(f(d * ((bytes[at + 192 + (i >> 4)]! << 24) >> 24)) * (q - 32));
    }
  },
};

const CODECS: Record<BlockQuantType, BlockCodec> = {
  Q8_0: q8_0,
  Q4_0: legacyCodec(4, false),
  Q4_1: legacyCodec(4, true),
  Q5_0: legacyCodec(5, false),
  Q5_1: legacyCodec(5, true),
  Q2_K: q2_K,
  Q3_K: q3_K,
  Q4_K: kCodec(4),
  Q5_K: kCodec(5),
  Q6_K: q6_K,
};

export const BLOCK_QUANT_TYPES = Object.keys(CODECS) as BlockQuantType[];

export function isBlockQuantType(name: string): name is BlockQuantType {
  return name in CODECS;
}

/** Values per block of a block-quantized type. */
export function quantBlockValues(type: BlockQuantType): number {
  return CODECS[type].values;
}

/** The blocks of `data` (a whole number of blocks) in `type`, as ggml's reference quantizer writes them. */
export function quantizeBlocks(type: BlockQuantType, data: Float32Array): Uint8Array {
  const codec = CODECS[type];
  if (data.length % codec.values !== 0) throw new Error(`${type} needs a multiple of ${codec.values} values, got ${data.length}`);
  const blocks = data.length / codec.values;
  const out = new Uint8Array(blocks * codec.bytes);
  for (let b = 0; b < blocks; b++) codec.quantize(data.subarray(b * codec.values, (b + 1) * codec.values), out, b * codec.bytes);
  return out;
}

/** The values of `count` values' worth of `type` blocks, with ggml's dequantize_row_* float32 arithmetic. */
export function dequantizeBlocks(type: BlockQuantType, bytes: Uint8Array, count: number): Float32Array {
  const codec = CODECS[type];
  const out = new Float32Array(count);
  for (let b = 0; b < count / codec.values; b++) codec.dequantize(bytes, b * codec.bytes, out, b * codec.values);
  return out;
}
