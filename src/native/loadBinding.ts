// Picks and loads the native binary. Order (first that fits wins), each step logged in `tried`:
//   1. SPOGW_NATIVE_BINARY=<path>: an explicit file, no questions asked beyond loading it;
//      SPOGW_DEVICE=cpu|cuda restricts the variants considered below.
//   2. a local source build: native/build/Release/spogw.node (cmake-js, `npm run build:native`), else
//      build/Release/spogw.node (node-gyp, `npm run build:gyp`);
//   3. the CUDA prebuild, when an NVIDIA driver is visible and a child process confirms >= 1 device
//      (probing in a child keeps a broken driver from taking this process down);
//   4. the CPU prebuild, when glibc and the CPU's x86-64-v2 features allow it.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { packageRoot } from "../packageInfo.js";
import { EXPECTED_ABI_VERSION, type NativeBinding } from "./AddonTypes.js";
import { glibcVersion, missingX8664V2Flags, nvidiaDriverVisible, prebuildPlatform, versionAtLeast } from "./platform.js";

export type BindingSource = "override" | "local-build" | "prebuilt-cuda" | "prebuilt-cpu";

export interface LoadedBinding {
  binding: NativeBinding;
  path: string;
  source: BindingSource;
  /** Why this binary was chosen, in words. */
  reason: string;
  /** Every candidate considered before it, with why it was skipped. */
  tried: Array<{ path: string; skipped: string }>;
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

export function prebuildPath(variant: "cpu" | "cuda"): string {
  return join(packageRoot(), "prebuilds", prebuildPlatform(), `spogw.${variant}.node`);
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

/** Loads the CUDA binary in a child process and reports its device count (or why it failed). */
function probeCudaDevices(path: string): { devices: number; why: string } {
  const script = `const b = require(${JSON.stringify(path)}); const c = b.info().cuda; ` +
    `process.stdout.write(JSON.stringify({ devices: c.deviceCount, why: c.error }))`;
  const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) return { devices: 0, why: `probe process failed: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim().split("\n")[0]}` };
  try {
    return JSON.parse(r.stdout) as { devices: number; why: string };
  } catch {
    return { devices: 0, why: `probe printed no result: ${r.stdout.slice(0, 200)}` };
  }
}

function manifestGlibcFloor(): string | null {
  const manifest = join(packageRoot(), "prebuilds", prebuildPlatform(), "manifest.json");
  if (!existsSync(manifest)) return null;
  try {
    return (JSON.parse(readFileSync(manifest, "utf8")) as { glibc?: string }).glibc ?? null;
  } catch {
    return null;
  }
}

function chooseBinding(): LoadedBinding {
  const tried: Array<{ path: string; skipped: string }> = [];
  const attempt = (path: string, source: BindingSource, reason: string): LoadedBinding | null => {
    const { binding, error } = tryRequire(path);
    if (binding) return { binding, path, source, reason, tried };
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

  const floor = manifestGlibcFloor();
  const glibc = glibcVersion();
  const glibcProblem = floor && (!glibc || !versionAtLeast(glibc, floor))
    ? `needs glibc >= ${floor}, this system has ${glibc ?? "no glibc"}` : null;

  const cuda = prebuildPath("cuda");
  if (device === "cpu") tried.push({ path: cuda, skipped: "SPOGW_DEVICE=cpu" });
  else if (!existsSync(cuda)) tried.push({ path: cuda, skipped: "not shipped for this platform" });
  else if (glibcProblem) tried.push({ path: cuda, skipped: glibcProblem });
  else if (!nvidiaDriverVisible()) tried.push({ path: cuda, skipped: "no NVIDIA driver visible (/dev/nvidiactl absent)" });
  else {
    const probe = probeCudaDevices(cuda);
    if (probe.devices > 0) {
      const loaded = attempt(cuda, "prebuilt-cuda", `CUDA prebuild; the probe found ${probe.devices} device(s)`);
      if (loaded) return loaded;
    } else tried.push({ path: cuda, skipped: `no usable CUDA device: ${probe.why}` });
  }
  if (device === "cuda") {
    throw new NativeLoadError(`SPOGW_DEVICE=cuda but no CUDA binary could be used:\n${formatTried(tried)}`, tried);
  }

  const cpu = prebuildPath("cpu");
  const missing = missingX8664V2Flags();
  if (!existsSync(cpu)) tried.push({ path: cpu, skipped: "not shipped for this platform" });
  else if (glibcProblem) tried.push({ path: cpu, skipped: glibcProblem });
  else if (missing.length > 0) tried.push({ path: cpu, skipped: `CPU lacks x86-64-v2 features: ${missing.join(", ")}` });
  else {
    const loaded = attempt(cpu, "prebuilt-cpu", "CPU prebuild (portable x86-64-v2 baseline)");
    if (loaded) return loaded;
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
