#!/usr/bin/env node
// GPU check for the fused GRPO loss kernel (npm run test:gpu): runs the CUDA kernel and the CPU kernel
// on the same random inputs, compares loss, logp and dHidden (relative to the largest value, < 1e-4),
// then times both at the default benchmark shape. When cuBLAS is in use it runs the comparisons a
// second time with SPOGW_DISABLE_CUBLAS=1, so the own tiled SGEMM is checked too.
//
//   node scripts/testGpu.mjs [--binary path/to/spogw.node] [--no-time]
//
// The binary: --binary, else SPOGW_NATIVE_BINARY, else each CUDA prebuild in turn (spogw.cuda.node,
// spogw.cuda11.node) when there are both, else the first of native/build-cuda/Release,
// prebuilds/<platform>/spogw.cuda.node, native/build/Release that has CUDA code. Without a GPU (or
// without a CUDA build) it says so plainly and exits 0; a mismatch exits 1.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const argValue = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const doTime = !args.includes("--no-time");

function findBinary() {
  const explicit = argValue("--binary") ?? process.env.SPOGW_NATIVE_BINARY;
  if (explicit) return [resolve(explicit)];
  return [
    join(root, "native", "build-cuda", "Release", "spogw.node"),
    join(root, "prebuilds", `${process.platform}-${process.arch}`, "spogw.cuda.node"),
    join(root, "native", "build", "Release", "spogw.node"),
  ].filter((p) => existsSync(p));
}

// Without an explicit binary, every CUDA prebuild is checked (CUDA 13 and CUDA 11.8), each in its own
// process since one process can hold only one CUDA runtime.
const prebuilt = ["spogw.cuda.node", "spogw.cuda11.node"]
  .map((f) => join(root, "prebuilds", `${process.platform}-${process.arch}`, f)).filter((p) => existsSync(p));
if (!argValue("--binary") && !process.env.SPOGW_NATIVE_BINARY && prebuilt.length > 1) {
  let failed = 0;
  for (const path of prebuilt) {
    const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--binary", path, ...args.filter((a) => a === "--no-time")], { stdio: "inherit" });
    if (child.status !== 0) failed++;
  }
  process.exit(failed === 0 ? 0 : 1);
}

const require = createRequire(import.meta.url);
let binding = null, binaryPath = null;
for (const path of findBinary()) {
  const b = require(path);
  if (b.info().cuda.compiled) {
    binding = b;
    binaryPath = path;
    break;
  }
}
if (!binding) {
  console.log("test:gpu: no binary with CUDA code found. Build one with `node scripts/buildNative.mjs --cuda ON --out native/build-cuda` " +
    "(or pass --binary). Nothing was compared.");
  process.exit(0);
}
const info = binding.info();
if (info.cuda.deviceCount === 0) {
  console.log(`test:gpu: NO GPU on this machine (${info.cuda.error}). The CUDA kernel was not run; nothing was compared.`);
  console.log(`          binary: ${binaryPath}`);
  process.exit(0);
}
if (typeof binding.grpoLoss !== "function") {
  console.log(`test:gpu: ${binaryPath} has no loss kernel (stale build); rebuild it.`);
  process.exit(1);
}
console.log(`test:gpu: ${info.cuda.deviceName}, CUDA runtime ${info.cuda.runtimeVersion}, driver ${info.cuda.driverVersion}; ` +
  `cuBLAS: ${process.env.SPOGW_DISABLE_CUBLAS ? "disabled by SPOGW_DISABLE_CUBLAS (own SGEMM)" : info.cuda.cublas}`);
console.log(`          binary: ${binaryPath}; CPU ${info.threads} threads, BLAS core ${info.blasCore}`);

// ---- random inputs (a few large logits per row so the softmax is not flat) ----------------------
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function makeInput(T, d, V, S, seed) {
  const next = rng(seed);
  const hidden = new Float32Array(T * d).map(() => next() * 2 - 1);
  const lmHead = new Float32Array(V * d).map(() => (next() - 0.5) / Math.sqrt(d));
  const targets = new Int32Array(T).map(() => Math.floor(next() * V));
  for (let t = 0; t < Math.min(T, 200); t++) {
    const j = Math.floor(next() * V);
    for (let k = 0; k < d; k++) lmHead[j * d + k] = (8 * hidden[t * d + k]) / d;
  }
  const seqStarts = new Int32Array(S + 1).map((_, i) => Math.round((i * T) / S));
  return {
    hidden, lmHead, targets, seqStarts,
    advantages: new Float32Array(S).map((_, i) => [1.2, -0.7, 0, 0.3][i % 4]),
    seqWeights: new Float32Array(S).map((_, i) => 1 / (S * (seqStarts[i + 1] - seqStarts[i]))),
    oldLogp: new Float32Array(T).map(() => -8 + 4 * next()),
    refLogp: new Float32Array(T).map(() => -8 + 4 * next()),
  };
}

const settings = { epsilon: 0.2, epsilonHigh: 0.28, beta: 0.1, temperature: 0.7, klMask: "advantage" };
const run = (x, device, tileRows = 0) => binding.grpoLoss({ ...x, ...settings }, { device, tileRows });

function relErr(a, b) {
  let diff = 0, scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return scale === 0 ? diff : diff / scale;
}

let failures = 0;
const shapes = [[64, 64, 123, 4, 0], [200, 256, 5000, 8, 37], [300, 896, 151936, 6, 128], [1, 16, 1, 1, 0]];
for (const [T, d, V, S, tile] of shapes) {
  const x = makeInput(T, d, V, S, T + d + V);
  const cpu = await run(x, "cpu");
  const gpu = await run(x, "cuda", tile);
  const lossErr = Math.abs(gpu.loss - cpu.loss) / Math.max(Math.abs(cpu.loss), 1e-12);
  const logpErr = relErr(gpu.logp, cpu.logp), dhErr = relErr(gpu.dHidden, cpu.dHidden);
  const countsSame = gpu.clippedLow === cpu.clippedLow && gpu.clippedHigh === cpu.clippedHigh;
  const ok = lossErr < 1e-4 && logpErr < 1e-4 && dhErr < 1e-4 && countsSame;
  if (!ok) failures++;
  console.log(`${ok ? "OK    " : "NOT OK"} [${gpu.gemm}] T=${T} d=${d} V=${V} tile=${tile || "auto"}: loss ${lossErr.toExponential(2)}, ` +
    `logp ${logpErr.toExponential(2)}, dHidden ${dhErr.toExponential(2)} (relative), clip counts ${countsSame ? "equal" : "DIFFER"}`);
}

if (doTime && failures === 0) {
  const [T, d, V] = [2048, 896, 151936];
  const x = makeInput(T, d, V, 16, 7);
  const gflop = (4 * T * d * V) / 1e9;
  for (const device of ["cuda", "cpu"]) {
    await run(x, device); // warm-up (device context, cuBLAS handle, BLAS threads)
    const t0 = performance.now();
    await run(x, device);
    const ms = performance.now() - t0;
    console.log(`time  ${device.padEnd(4)} T=${T} d=${d} V=${V}: ${ms.toFixed(1)} ms, ${(gflop / ms * 1e3).toFixed(1)} GFLOP/s ` +
      `(including host<->device copies for cuda)`);
  }
}

if (failures === 0 && !process.env.SPOGW_DISABLE_CUBLAS && !info.cuda.cublas.startsWith("unavailable")) {
  console.log("test:gpu: again with the own tiled SGEMM (SPOGW_DISABLE_CUBLAS=1):");
  const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--binary", binaryPath, ...(doTime ? [] : ["--no-time"])],
    { stdio: "inherit", env: { ...process.env, SPOGW_DISABLE_CUBLAS: "1" } });
  if (child.status !== 0) failures++;
}
console.log(failures === 0 ? "test:gpu: CUDA agrees with CPU" : `test:gpu: ${failures} mismatch(es)`);
process.exit(failures === 0 ? 0 : 1);
