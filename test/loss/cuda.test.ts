// The fused loss kernel on a GPU: the CUDA prebuild, loaded in a child process, against the float64
// reference and the CPU kernel on the same input. Where no GPU is usable the comparison is skipped and
// says why (nothing ran on a GPU, so nothing is recorded as passed); where the binary this process
// loaded has no usable GPU, asking it for device "cuda" is refused with the reason.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { grpoLoss, selectiveLogprobs, type GrpoLossInput } from "../../src/index.js";
import { native } from "../../src/native/index.js";
import { cudaDevice, cudaPrebuild, repoRoot } from "../helpers/prebuilds.js";
import { makeCase, referenceGrpoLoss, relativeError } from "./reference.js";

// Not yet measured on a GPU (none has been lent to this project): the bound the CPU/GPU check always
// had. Tighten it to a small multiple of what `npm test` prints where a GPU ran the comparison.
const CUDA_TOL = 1e-4;

const gpu = cudaDevice();
if (!gpu.usable) console.info(`grpoLoss on CUDA: skipped, ${gpu.reason}`);

const work = mkdtempSync(join(tmpdir(), "spogw-cuda-loss-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const input = makeCase({ T: 12, d: 16, V: 700, S: 3, seed: 31, temperature: 0.7, beta: 0.1, klMask: "advantage" });

interface DeviceRun {
  loss: number;
  logp: Float32Array;
  dHidden: Float32Array;
  /** selectiveLogprobs on the same device. */
  selective: Float32Array;
}

/** Runs grpoLoss and selectiveLogprobs on the CPU and on CUDA in a child process that loads the CUDA prebuild. */
function runWithCudaPrebuild(x: GrpoLossInput): { device: string; cpu: DeviceRun; cuda: DeviceRun } {
  const typed = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("base64");
  const inputFile = join(work, "input.json");
  writeFileSync(inputFile, JSON.stringify(Object.fromEntries(Object.entries(x).map(([k, v]) =>
    [k, ArrayBuffer.isView(v) ? { type: v.constructor.name, base64: typed(v) } : v]))));
  const script = `import { readFileSync } from "node:fs";
    import { grpoLoss, info, selectiveLogprobs } from ${JSON.stringify(join(repoRoot, "dist", "index.js"))};
    const raw = JSON.parse(readFileSync(${JSON.stringify(inputFile)}, "utf8"));
    const input = Object.fromEntries(Object.entries(raw).map(([k, v]) => {
      if (!v || typeof v !== "object") return [k, v];
      const bytes = Buffer.from(v.base64, "base64");
      return [k, new globalThis[v.type](bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength))];
    }));
    const b64 = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("base64");
    const run = async (device) => {
      const r = await grpoLoss(input, { device });
      return { loss: r.loss, logp: b64(r.logp), dHidden: b64(r.dHidden), selective: b64(await selectiveLogprobs(input, { device })) };
    };
    process.stdout.write(JSON.stringify({ device: info().cuda.deviceName, cpu: await run("cpu"), cuda: await run("cuda") }));`;
  const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    env: { ...process.env, SPOGW_NATIVE_BINARY: cudaPrebuild }, encoding: "utf8", maxBuffer: 64 << 20,
  });
  expect(child.status, child.stderr).toBe(0);
  const out = JSON.parse(child.stdout) as { device: string; cpu: Record<string, string | number>; cuda: Record<string, string | number> };
  const floats = (b64: string | number) => {
    const bytes = Buffer.from(String(b64), "base64");
    return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  };
  const decode = (r: Record<string, string | number>): DeviceRun => ({ loss: Number(r.loss), logp: floats(r.logp!), dHidden: floats(r.dHidden!), selective: floats(r.selective!) });
  return { device: out.device, cpu: decode(out.cpu), cuda: decode(out.cuda) };
}

describe("grpoLoss on CUDA", () => {
  it.skipIf(!gpu.usable)(`agrees with the float64 reference and the CPU kernel on a GPU (${gpu.reason})`, () => {
    const { device, cpu, cuda } = runWithCudaPrebuild(input);
    const want = referenceGrpoLoss(input);
    const errors = {
      loss: Math.abs(cuda.loss - want.loss) / Math.abs(want.loss),
      logp: relativeError(cuda.logp, want.logp),
      dHidden: relativeError(cuda.dHidden, want.dHidden),
      selective: relativeError(cuda.selective, want.logp),
      lossVsCpu: Math.abs(cuda.loss - cpu.loss) / Math.abs(cpu.loss),
      dHiddenVsCpu: relativeError(cuda.dHidden, cpu.dHidden),
    };
    console.info(`grpoLoss on CUDA (${device}) vs float64 reference and CPU kernel:`, JSON.stringify(errors));
    for (const [what, error] of Object.entries(errors)) expect(error, what).toBeLessThan(CUDA_TOL);
  });

  it.skipIf(native().info().cuda.deviceCount > 0)("a binary without a usable GPU refuses device cuda, saying why", async () => {
    const cuda = native().info().cuda;
    const why = cuda.compiled ? /no usable device/ : /this binary was built without CUDA/;
    await expect(grpoLoss(input, { device: "cuda" })).rejects.toThrow(why);
    await expect(selectiveLogprobs({ ...input }, { device: "cuda" })).rejects.toThrow(why);
  });
});
