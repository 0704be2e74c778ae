// Picks and loads the native binary. Order (first that fits wins), each step logged in `tried`:
//   1. SPOGW_NATIVE_BINARY=<path>: an explicit file, no questions asked beyond loading it;
//      SPOGW_DEVICE=cpu|cuda restricts the variants considered below.
//   2. a local source build: native/build/Release/spogw.node (cmake-js, `npm run build:native`), else
//      build/Release/spogw.node (node-gyp, `npm run build:gyp`);
//   3. the CUDA prebuilds, newest runtime first (CUDA 13, then CUDA 11.8): each when glibc and the CPU
//      allow it, the NVIDIA driver is new enough for its runtime, and a child process that loads it
//      finds >= 1 device (probing in a child keeps a broken driver from taking this process down);
//   4. the CPU prebuild, when glibc and the CPU's x86-64-v2 features allow it.
// Whether a prebuild fits this machine is decided in platform.ts, which the install hook shares.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { packageRoot } from "../packageInfo.js";
import { EXPECTED_ABI_VERSION, type NativeBinding } from "./AddonTypes.js";
import { hostFacts, prebuildCandidates, prebuildPlatform, readManifest, type CudaProbe, type DriverFacts } from "./platform.js";

export type BindingSource = "override" | "local-build" | "prebuilt-cuda" | "prebuilt-cpu";

export interface LoadedBinding {
  binding: NativeBinding;
  path: string;
  source: BindingSource;
  /** Why this binary was chosen, in words. */
  reason: string;
  /** Every candidate considered before it, with why it was skipped. */
  tried: Array<{ path: string; skipped: string }>;
  /** The NVIDIA driver as the loader saw it: /proc's version and the CUDA version a probe reported. */
  driver: DriverFacts;
}

export class NativeLoadError extends Error {
  constructor(message: string, readonly tried: Array<{ path: string; skipped: string }>) {
    super(message);
    this.name = "NativeLoadError";
  }
}

/** Local source builds, in order of preference: cmake-js (all variants), then node-gyp (CPU only). */
export function localBuildPaths(): string[] {
  return [join(packageRoot(), "native", "build", "Release", "spogw.node"), join(packageRoot(), "build", "Release", "spogw.node")];
}

export function prebuildDir(): string {
  return join(packageRoot(), "prebuilds", prebuildPlatform());
}

/** A prebuild's path by variant name ("cpu", "cuda", "cuda11"). */
export function prebuildPath(variant: string): string {
  return join(prebuildDir(), `spogw.${variant}.node`);
}

const requireNative = createRequire(import.meta.url);

function tryRequire(path: string): { binding?: NativeBinding; error?: string } {
  try {
    const binding = requireNative(path) as NativeBinding;
    const abi = binding.info?.().abiVersion;
    if (abi !== EXPECTED_ABI_VERSION) {
      return { error: `ABI version ${String(abi)} but this package expects ${EXPECTED_ABI_VERSION} (stale build: run \`npm run build:native\`)` };
    }
    return { binding };
  } catch (e) {
    return { error: (e as Error).message.split("\n")[0] ?? String(e) };
  }
}

/** Loads a CUDA binary in a child process and reports its device count and the driver's CUDA version. */
function probeCuda(path: string): CudaProbe {
  const script = `const b = require(${JSON.stringify(path)}); const c = b.info().cuda; ` +
    `process.stdout.write(JSON.stringify({ devices: c.deviceCount, why: c.error, driverVersion: c.driverVersion }))`;
  const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) {
    return { devices: 0, driverVersion: 0, why: `probe process failed: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim().split("\n")[0]}` };
  }
  try {
    return JSON.parse(r.stdout) as CudaProbe;
  } catch {
    return { devices: 0, driverVersion: 0, why: `probe printed no result: ${r.stdout.slice(0, 200)}` };
  }
}

function chooseBinding(): LoadedBinding {
  const tried: Array<{ path: string; skipped: string }> = [];
  const host = hostFacts();
  const driver: DriverFacts = { version: host.nvidiaDriver, cudaVersion: null };
  const attempt = (path: string, source: BindingSource, reason: string): LoadedBinding | null => {
    const { binding, error } = tryRequire(path);
    if (binding) {
      const reported = binding.info().cuda.driverVersion;
      if (reported) driver.cudaVersion = reported;
      return { binding, path, source, reason, tried, driver };
    }
    tried.push({ path, skipped: `failed to load: ${error}` });
    return null;
  };

  const override = process.env.SPOGW_NATIVE_BINARY ? resolve(process.env.SPOGW_NATIVE_BINARY) : undefined;
  if (override) {
    if (!existsSync(override)) throw new NativeLoadError(`SPOGW_NATIVE_BINARY=${override}: no such file`, tried);
    const loaded = attempt(override, "override", "SPOGW_NATIVE_BINARY names it");
    if (loaded) return loaded;
    throw new NativeLoadError(`SPOGW_NATIVE_BINARY=${override} could not be loaded: ${tried[0]?.skipped}`, tried);
  }

  const device = process.env.SPOGW_DEVICE?.toLowerCase();
  if (device && device !== "cpu" && device !== "cuda") {
    throw new NativeLoadError(`SPOGW_DEVICE must be "cpu" or "cuda" (got "${process.env.SPOGW_DEVICE}")`, tried);
  }

  for (const local of localBuildPaths()) {
    if (!existsSync(local)) {
      tried.push({ path: local, skipped: "no local build" });
      continue;
    }
    const loaded = attempt(local, "local-build", `a local source build exists (${local})`);
    if (!loaded) continue;
    // The CUDA variant also runs every CPU path, so it serves SPOGW_DEVICE=cpu too.
    const variant = loaded.binding.info().variant;
    if (!device || device === variant || device === "cpu") return loaded;
    tried.push({ path: local, skipped: `it is the ${variant} variant but SPOGW_DEVICE=${device}` });
  }

  const dir = prebuildDir();
  const manifest = readManifest(dir);
  if (!manifest) tried.push({ path: dir, skipped: "no prebuilt binaries for this platform (no manifest.json)" });
  else if (!manifest.variants.cpu) tried.push({ path: dir, skipped: "the manifest lists no CPU prebuild" });
  const candidates = manifest ? prebuildCandidates(manifest, host, {
    device: device as "cpu" | "cuda" | undefined,
    exists: (file) => existsSync(join(dir, file)),
    probe: (file) => probeCuda(join(dir, file)),
    skip: (file, why) => tried.push({ path: join(dir, file), skipped: why }),
    driver,
  }) : [];
  for (const c of candidates) {
    const loaded = attempt(join(dir, c.file), c.source, c.reason);
    if (loaded) return loaded;
  }
  if (device === "cuda") {
    throw new NativeLoadError(`SPOGW_DEVICE=cuda but no CUDA binary could be used:\n${formatTried(tried)}`, tried);
  }

  throw new NativeLoadError(
    `no usable native binary for spogw-native:\n${formatTried(tried)}\n` +
      "Build one from source with `npx spogw-native build` (needs cmake, g++ and libopenblas-dev), " +
      "or reinstall with SPOGW_BUILD_FROM_SOURCE=1.",
    tried,
  );
}

function formatTried(tried: Array<{ path: string; skipped: string }>): string {
  return tried.map((t) => `  - ${t.path}: ${t.skipped}`).join("\n");
}

let loaded: LoadedBinding | undefined;

/**
 * The native binding, loaded once per process. Threads are set explicitly on first load:
 * SPOGW_THREADS if given, else the machine's available parallelism. SPOGW_KERNELS picks the engine's
 * forward kernels (auto, portable or blas) and SPOGW_GGML_BUILD the llama.cpp build they reproduce
 * (default: the one llama.cpp loads on this CPU); `info` reports the result.
 */
export function loadBinding(): LoadedBinding {
  if (loaded) return loaded;
  // Read by the addon itself at load (native/src/engine/ggml_numerics.cc); checked here so that a typo
  // is an error, not a silent "auto".
  const kernels = process.env.SPOGW_KERNELS;
  if (kernels !== undefined && kernels !== "" && !["auto", "portable", "blas"].includes(kernels)) {
    throw new Error(`SPOGW_KERNELS must be auto, portable or blas (got "${kernels}")`);
  }
  const build = process.env.SPOGW_GGML_BUILD;
  if (build !== undefined && build !== "" && !["avx512bf16", "avx512", "avx2"].includes(build)) {
    throw new Error(`SPOGW_GGML_BUILD must be avx512bf16, avx512 or avx2 (got "${build}")`);
  }
  const chosen = chooseBinding();
  const requested = process.env.SPOGW_THREADS ? Number(process.env.SPOGW_THREADS) : availableParallelism();
  if (!Number.isInteger(requested) || requested < 1) {
    throw new Error(`SPOGW_THREADS must be a positive whole number (got "${process.env.SPOGW_THREADS}")`);
  }
  chosen.binding.setThreads(requested);
  loaded = chosen;
  return chosen;
}

/** The native binding (loading it on first use). */
export function native(): NativeBinding {
  return loadBinding().binding;
}
