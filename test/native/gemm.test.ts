// gemm() against an independent float64 product written here, for every transpose combination and
// awkward sizes; mismatched sizes must throw instead of reading out of bounds.
import { describe, expect, it } from "vitest";
import { gemm } from "../../src/index.js";

function seededArray(length: number, seed: number): Float32Array {
  const out = new Float32Array(length);
  let s = seed;
  for (let i = 0; i < length; i++) {
    s = (s * 16807) % 2147483647;
    out[i] = (s / 2147483647) * 2 - 1;
  }
  return out;
}

/** C = op(A) op(B) in float64, with op chosen by the storage layout described in gemm()'s contract. */
function productF64(a: Float32Array, b: Float32Array, m: number, n: number, k: number, ta: boolean, tb: boolean): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let p = 0; p < k; p++) {
        const av = ta ? a[p * m + i]! : a[i * k + p]!;
        const bv = tb ? b[j * k + p]! : b[p * n + j]!;
        acc += av * bv;
      }
      c[i * n + j] = acc;
    }
  }
  return c;
}

function maxRelativeError(got: Float32Array, want: Float64Array): number {
  let scale = 0;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / Math.max(scale, 1e-30));
  return worst;
}

describe("gemm", () => {
  const shapes: Array<[number, number, number]> = [
    [1, 1, 1],
    [3, 5, 7],
    [17, 1, 33],
    [1, 29, 64],
    [65, 31, 127],
    [128, 96, 257],
  ];
  for (const ta of [false, true]) {
    for (const tb of [false, true]) {
      it(`matches a float64 product with transA=${ta} transB=${tb} on odd sizes`, async () => {
        for (const [m, n, k] of shapes) {
          const a = seededArray(m * k, m * 31 + k);
          const b = seededArray(k * n, n * 17 + k + 3);
          const c = await gemm(a, b, m, n, k, ta, tb);
          expect(c.length).toBe(m * n);
          expect(maxRelativeError(c, productF64(a, b, m, n, k, ta, tb))).toBeLessThan(1e-5);
        }
      });
    }
  }

  it("distinguishes the transposes (a transposed operand is not read as plain)", async () => {
    // A = [[1, 2], [3, 4]]: A x I = A, A^T x I = A^T.
    const a = new Float32Array([1, 2, 3, 4]);
    const eye = new Float32Array([1, 0, 0, 1]);
    expect(Array.from(await gemm(a, eye, 2, 2, 2, false, false))).toEqual([1, 2, 3, 4]);
    expect(Array.from(await gemm(a, eye, 2, 2, 2, true, false))).toEqual([1, 3, 2, 4]);
    expect(Array.from(await gemm(eye, a, 2, 2, 2, false, true))).toEqual([1, 3, 2, 4]);
  });

  it("returns zeros for an empty inner dimension and empty output for m = 0", async () => {
    expect(Array.from(await gemm(new Float32Array(0), new Float32Array(0), 2, 3, 0))).toEqual([0, 0, 0, 0, 0, 0]);
    expect((await gemm(new Float32Array(0), new Float32Array(12), 0, 3, 4)).length).toBe(0);
  });

  it("rejects sizes that do not fit the arrays", async () => {
    const a = new Float32Array(6);
    const b = new Float32Array(6);
    await expect(gemm(a, b, 2, 2, 4)).rejects.toThrow(/a has 6 elements but m x k = \[2, 4\] needs 8/);
    await expect(gemm(a, b, 2, 3, 3)).rejects.toThrow(/b has 6 elements .* needs 9/);
    await expect(gemm(a, new Float32Array(5), 2, 2, 3, false, true)).rejects.toThrow(/b has 5 elements but k x n \(transposed\)/);
  });

  it("rejects malformed arguments with a clear message", async () => {
    const a = new Float32Array(4);
    await expect(gemm(a, a, -1, 2, 2)).rejects.toThrow(/m must be a whole number/);
    await expect(gemm(a, a, 2, 2.5, 2)).rejects.toThrow(/n must be a whole number/);
    await expect(gemm(a, a, 2, 2, Number.NaN)).rejects.toThrow(/k must be a whole number/);
    await expect(gemm(a, a, 2 ** 40, 2 ** 40, 2)).rejects.toThrow(/whole number|overflow|elements/);
    await expect(gemm(new Float64Array(4) as unknown as Float32Array, a, 2, 2, 2)).rejects.toThrow(/a must be a Float32Array/);
    await expect(gemm(a, [1, 2, 3, 4] as unknown as Float32Array, 2, 2, 2)).rejects.toThrow(/b must be a Float32Array/);
  });
});
