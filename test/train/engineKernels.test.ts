// The engine's llama.cpp-order kernels give the same bits whichever way they run: the SIMD kernels
// in this process's build and the portable ones (SPOGW_KERNELS=portable) in the x86-64-v2 CPU
// prebuild, in a child process. SPOGW_KERNELS=blas (what a CPU with neither AVX-512 nor AVX2 runs) is
// close but not exact. Parity with llama.cpp itself is engineParity.test.ts.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { writeTinyModel, type TinyModelDtype } from "../../src/gguf/index.js";
import { Engine } from "../../src/train/index.js";
import { ensureCpuPrebuild, repoRoot } from "../helpers/prebuilds.js";
import { info } from "../../src/native/index.js";

// The binary this process loaded (a local build, or a prebuild): its AVX2 kernels run in a child.
const localBinary = () => info().binaryPath;

const work = mkdtempSync(join(tmpdir(), "spogw-kernels-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const TOKENS = Array.from({ length: 37 }, (_, i) => 1 + ((i * 53 + 3) % 250));

async function logitsInChild(model: string, adapter: string, kernels: string, env: Record<string, string> = {}, binary = ensureCpuPrebuild()):
    Promise<{ logits: Float32Array; numerics: string }> {
  const script = `import { Engine, info } from ${JSON.stringify(join(repoRoot, "dist", "index.js"))};
    const e = await Engine.load(${JSON.stringify(model)});
    await e.loadLora(${JSON.stringify(adapter)});
    const l = await e.logits(Int32Array.from(${JSON.stringify(TOKENS)}));
    process.stdout.write(JSON.stringify({ numerics: info().engineNumerics, logits: Buffer.from(l.buffer, l.byteOffset, l.byteLength).toString("base64") }));`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    env: { ...process.env, SPOGW_NATIVE_BINARY: binary, SPOGW_KERNELS: kernels, ...env },
    encoding: "utf8", maxBuffer: 64 << 20,
  });
  expect(r.status, r.stderr).toBe(0);
  const out = JSON.parse(r.stdout) as { numerics: string; logits: string };
  const bytes = Buffer.from(out.logits, "base64");
  return { numerics: out.numerics, logits: new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4) };
}

async function modelWithAdapter(dtype: TinyModelDtype): Promise<{ model: string; adapter: string; here: Float32Array }> {
  const model = join(work, `m-${dtype}.gguf`);
  const adapter = join(work, `a-${dtype}.gguf`);
  const shape = dtype.includes("_k") ? { embd: 256, ff: 512 } : {}; // K-quants: rows of whole super-blocks
  await writeTinyModel(model, { arch: "qwen2", dtype, kvHeads: 2, tied: false, layers: 2, seed: 5, ...shape });
  const engine = await Engine.load(model);
  try {
    engine.initLora({ rank: 4, alpha: 8, init: "random", seed: 9 });
    await engine.saveLora(adapter);
    return { model, adapter, here: await engine.logits(Int32Array.from(TOKENS)) };
  } finally {
    engine.dispose();
  }
}

it("portable kernels in the x86-64-v2 prebuild reproduce this build's logits bit for bit (every weight type, with LoRA)", async () => {
  // The quantized types: legacy and K vec_dot paths, both repacked kernels (Q4_0 and Q4_K's in q4_k_m).
  for (const dtype of ["f16", "f32", "bf16", "q8_0", "q4_0", "q5_1", "q3_k", "q4_k_m", "q2_k"] as const) {
    const { model, adapter, here } = await modelWithAdapter(dtype);
    const { logits: there, numerics } = await logitsInChild(model, adapter, "portable");
    expect(numerics).toMatch(/bit for bit/);
    expect(there.length).toBe(here.length);
    let differing = 0;
    for (let i = 0; i < here.length; i++) if (!Object.is(here[i], there[i])) differing++;
    expect(differing, `${dtype}: logits differing between the two builds`).toBe(0);
  }
}, 600_000);

it("SPOGW_KERNELS=blas (what a CPU with neither AVX-512 nor AVX2 gets) runs OpenBLAS products, says so, and stays within float32 rounding on F32", async () => {
  const { model, adapter, here } = await modelWithAdapter("f32");
  const { logits: there, numerics } = await logitsInChild(model, adapter, "blas");
  expect(numerics).toMatch(/OpenBLAS/);
  let worst = 0;
  let differing = 0;
  for (let i = 0; i < here.length; i++) {
    worst = Math.max(worst, Math.abs(here[i]! - there[i]!));
    if (!Object.is(here[i], there[i])) differing++;
  }
  expect(differing).toBeGreaterThan(0);  // another summation order really ran
  expect(worst).toBeLessThan(1e-4);
});

// ggml's AVX2 build (llama.cpp on CPUs without AVX-512) adds in 8-lane order and has its own expf:
// the engine reproduces it when told to (SPOGW_GGML_BUILD=avx2), with AVX2 kernels in this build and
// portable ones in the prebuild; native/dev/ggml checks each operation against ggml's haswell library.
it("the AVX2 build's arithmetic: SIMD and portable kernels agree bit for bit, and differ from the AVX-512 build's", async () => {
  const here = localBinary();
  for (const dtype of ["f16", "bf16", "q4_k_m"] as const) {
    const { model, adapter, here: avx512Logits } = await modelWithAdapter(dtype);
    const simd = await logitsInChild(model, adapter, "auto", { SPOGW_GGML_BUILD: "avx2" }, here);
    const portable = await logitsInChild(model, adapter, "portable", { SPOGW_GGML_BUILD: "avx2" });
    expect(simd.numerics).toMatch(/AVX2 build/);
    let differing = 0;
    let fromAvx512 = 0;
    for (let i = 0; i < simd.logits.length; i++) {
      if (!Object.is(simd.logits[i], portable.logits[i])) differing++;
      if (!Object.is(simd.logits[i], avx512Logits[i])) fromAvx512++;
    }
    expect(differing, `${dtype}: AVX2 SIMD vs portable`).toBe(0);
    expect(fromAvx512, `${dtype}: the AVX2 build's sums really ran`).toBeGreaterThan(0);
  }
});
