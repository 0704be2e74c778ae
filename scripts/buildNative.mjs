#!/usr/bin/env node
// Builds the native addon from source with cmake-js into native/build/Release/spogw.node (or --out).
//
//   node scripts/buildNative.mjs [--cuda AUTO|ON|OFF] [--isa native|x86-64-v2|x86-64-v3]
//                                [--blas openblas-static|none] [--out DIR] [--tests]
//                                [--cuda-architectures "75-virtual;80-real"]
//
// Environment equivalents: SPOGW_CUDA, SPOGW_ISA, SPOGW_BLAS. The full cmake log is written to
// <out>/build.log; a failed build exits non-zero and prints where that log is and its last lines.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** This machine's CUDA toolkit directory (with bin/nvcc and cuda_runtime.h), or null when there is none. */
export function hostCudaToolkit() {
  const nvcc = spawnSync("sh", ["-c", "command -v nvcc"], { encoding: "utf8" }).stdout.trim();
  const candidates = [process.env.CUDA_HOME, process.env.CUDA_PATH, "/usr/local/cuda", nvcc && dirname(dirname(nvcc))];
  return candidates.find((dir) => dir && existsSync(join(dir, "bin", "nvcc")) && existsSync(join(dir, "include", "cuda_runtime.h"))) ?? null;
}

/** Build the addon; returns the path of the built .node. Throws with the log path on failure. */
export function buildNative(options = {}) {
  let cuda = (options.cuda ?? process.env.SPOGW_CUDA ?? "AUTO").toUpperCase();
  const isa = options.isa ?? process.env.SPOGW_ISA ?? "native";
  const blas = options.blas ?? process.env.SPOGW_BLAS ?? "openblas-static";
  const out = resolve(root, options.out ?? "native/build");
  if (!["AUTO", "ON", "OFF"].includes(cuda)) throw new Error(`--cuda must be AUTO, ON or OFF (got ${cuda})`);
  if (!["native", "x86-64-v2", "x86-64-v3"].includes(isa)) throw new Error(`--isa must be native, x86-64-v2 or x86-64-v3 (got ${isa})`);
  if (!["openblas-static", "none"].includes(blas)) throw new Error(`--blas must be openblas-static or none (got ${blas})`);
  // AUTO builds CUDA kernels only where they can run: compiling them for every architecture takes
  // minutes and is wasted on a machine without an NVIDIA driver. --cuda ON builds them regardless
  // (the prebuild and CI do, to check the CUDA source compiles and links).
  if (cuda === "AUTO" && !existsSync("/dev/nvidiactl") && !existsSync("/proc/driver/nvidia/version")) {
    process.stderr.write("spogw-native: no NVIDIA driver on this machine: building the CPU variant (--cuda ON to build the CUDA variant anyway)\n");
    cuda = "OFF";
  }
  const require = createRequire(import.meta.url);
  let cmakeJs;
  try {
    cmakeJs = join(dirname(require.resolve("cmake-js/package.json")), "bin", "cmake-js");
  } catch {
    throw new Error("cmake-js is not installed: run `npm install` in the package first");
  }
  const args = [cmakeJs, "compile", "--directory", join(root, "native"), "--out", out,
    `--CDSPOGW_CUDA=${cuda}`, `--CDSPOGW_ISA=${isa}`, `--CDSPOGW_BLAS=${blas}`,
    `--CDSPOGW_BUILD_TESTS=${options.tests ? "ON" : "OFF"}`];
  if (options.cudaArchitectures) args.push(`--CDCMAKE_CUDA_ARCHITECTURES=${options.cudaArchitectures}`);
  if (options.quiet !== false) args.push("--log-level", "warn");
  mkdirSync(out, { recursive: true });
  const logPath = join(out, "build.log");
  process.stderr.write(`spogw-native: building the native addon (CUDA ${cuda}, ISA ${isa}, BLAS ${blas}) into ${out}\n`);
  const result = spawnSync(process.execPath, args, {
    cwd: root,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, CMAKE_BUILD_PARALLEL_LEVEL: process.env.CMAKE_BUILD_PARALLEL_LEVEL ?? "2" },
  });
  const log = `${result.stdout ?? ""}\n${result.stderr ?? ""}`;
  writeFileSync(logPath, log);
  const built = join(out, "Release", "spogw.node");
  if (result.error || result.status !== 0 || !existsSync(built)) {
    const tail = log.trim().split("\n").slice(-25).join("\n");
    throw new Error(`native build failed (${result.error?.message ?? `cmake-js exited with ${result.status}`}).\n` +
      `Full log: ${logPath}\nLast lines:\n${tail}`);
  }
  const found = log.split("\n").filter((l) => l.includes("spogw:")).map((l) => l.replace(/^.*spogw:/, "  ")).join("\n");
  if (found) process.stderr.write(`${found}\n`);
  process.stderr.write(`spogw-native: built ${built}\n`);
  return built;
}

function parseArgs(argv) {
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--cuda") opts.cuda = value();
    else if (a === "--isa") opts.isa = value();
    else if (a === "--blas") opts.blas = value();
    else if (a === "--out") opts.out = value();
    else if (a === "--cuda-architectures") opts.cudaArchitectures = value();
    else if (a === "--tests") opts.tests = true;
    else if (a === "--verbose") opts.quiet = false;
    else throw new Error(`unknown option ${a}`);
  }
  return opts;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    buildNative(parseArgs(process.argv.slice(2)));
  } catch (e) {
    process.stderr.write(`spogw-native: ${e.message}\n`);
    process.exit(1);
  }
}
