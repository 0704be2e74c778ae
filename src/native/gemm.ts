// Dense float32 matrix product through the native CPU GEMM (OpenBLAS in the shipped binaries).
import { native } from "./loadBinding.js";

/**
 * C[m, n] = op(A)[m, k] x op(B)[k, n], all row-major and packed. With transA, `a` holds A^T as
 * [k, m]; with transB, `b` holds B^T as [n, k]. Runs off the JS thread. Sizes that do not match the
 * arrays' lengths reject with a RangeError naming the mismatch.
 */
export async function gemm(
  a: Float32Array,
  b: Float32Array,
  m: number,
  n: number,
  k: number,
  transA = false,
  transB = false,
): Promise<Float32Array> {
  return native().gemm(a, b, m, n, k, transA, transB);
}

/** The same product through plain loops with float64 accumulation: the baseline in `bench gemm`. */
export async function gemmReference(
  a: Float32Array,
  b: Float32Array,
  m: number,
  n: number,
  k: number,
  transA = false,
  transB = false,
): Promise<Float32Array> {
  return native().gemmReference(a, b, m, n, k, transA, transB);
}
