// The typed surface of the native addon. Nothing outside src/native imports the .node directly.
import type { NativeInfo } from "./AddonTypes.js";
import { loadBinding, native, type LoadedBinding } from "./loadBinding.js";

export type { NativeBinding, NativeCudaInfo, NativeInfo } from "./AddonTypes.js";
export { loadBinding, native, NativeLoadError, localBuildPaths, prebuildDir, prebuildPath } from "./loadBinding.js";
export type { BindingSource, LoadedBinding } from "./loadBinding.js";
export { gemm, gemmReference } from "./gemm.js";

/**
 * What the loaded binary is and what it found on this machine, plus which file was loaded and why, the
 * candidates skipped before it (with why) and the NVIDIA driver as the loader saw it.
 */
export function info(): NativeInfo & Pick<LoadedBinding, "source" | "reason" | "tried" | "driver"> & { binaryPath: string } {
  const loaded = loadBinding();
  return { ...loaded.binding.info(), binaryPath: loaded.path, source: loaded.source, reason: loaded.reason, tried: loaded.tried, driver: loaded.driver };
}

/** Threads for BLAS and the native parallel loops (clamped to the machine's cores). Returns the value set. */
export function setThreads(threads: number): number {
  return native().setThreads(threads);
}
