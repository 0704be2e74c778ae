// The writer's quantizers and the reader's dequantizers (src/gguf/quants.ts) against ggml's own
// library, node-llama-cpp's libggml-base.so called from Python (test/helpers/ggml_quants.py): the
// same float32 values give the same bytes as ggml_quantize_chunk (ggml's reference quantizers, which
// llama-quantize uses without an importance matrix), and the same bytes dequantize to the same float32
// values as ggml's to_float (what llama.cpp's GET_ROWS reads token embeddings with).
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BLOCK_QUANT_TYPES, GGML_TYPES_BY_NAME, dequantizeBlocks, quantizeBlocks } from "../../src/gguf/index.js";
import { SeededRandom } from "../../src/util/seededRandom.js";
import { repoRoot } from "../helpers/prebuilds.js";
import { referencePython } from "../helpers/torchReference.js";

const work = mkdtempSync(join(tmpdir(), "spogw-quants-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const binsDir = join(repoRoot, "node_modules", "@node-llama-cpp", `${process.platform}-${process.arch}`, "bins");
const ggmlBase = existsSync(binsDir) ? readdirSync(binsDir).map((d) => join(binsDir, d, "libggml-base.so")).find(existsSync) : undefined;
const script = join(repoRoot, "test", "helpers", "ggml_quants.py");

function ggml(args: string[]): string {
  return execFileSync(referencePython, [script, ggmlBase!, ...args], { encoding: "utf8" }).trim();
}

/** Rows of 1024 values that exercise the quantizers' corners: scales from 1e-3 to 100, one-sided
 * blocks, outliers, constant and all-zero blocks, magnitude ties and values near the F16 limits. */
function testValues(): Float32Array {
  const rows = 12;
  const row = 1024;
  const random = new SeededRandom(5, "quants");
  const x = new Float32Array(rows * row);
  for (let r = 0; r < rows; r++) {
    const scale = [1e-3, 0.05, 1, 30, 100, 0.2][r % 6]!;
    for (let i = 0; i < row; i++) x[r * row + i] = scale * random.normal();
  }
  x.fill(0, 0, 256); // a zero super-block
  x.fill(0.75, 256, 288); // a constant block
  for (let i = 288; i < 544; i++) x[i] = -Math.abs(x[i + 1024]!); // all negative
  for (let i = 544; i < 800; i++) x[i] = Math.abs(x[i + 2048]!); // all positive
  x[1100] = 500; // outliers
  x[1300] = -700;
  x[2100] = 3; // a magnitude tie inside a block
  x[2101] = -3;
  x[3000] = 6e4; // near the F16 maximum
  for (let i = 4096; i < 4352; i++) x[i] = 1e-9 * random.normal(); // tiny super-block
  return x;
}

describe.skipIf(ggmlBase === undefined)("block quantization vs ggml's library (node-llama-cpp's libggml-base)", () => {
  const values = testValues();
  const input = join(work, "values.f32");
  writeFileSync(input, new Uint8Array(values.buffer));

  it.each(BLOCK_QUANT_TYPES)("%s: the reference quantizer's bytes, and ggml's dequantized values", (type) => {
    const code = GGML_TYPES_BY_NAME.get(type)!.code;
    const ggmlBlocks = join(work, `${type}.bin`);
    expect(ggml(["quantize", String(code), "1024", input, ggmlBlocks]).toUpperCase()).toBe(type);
    const expected = new Uint8Array(readFileSync(ggmlBlocks));
    const ours = quantizeBlocks(type, values);
    expect(ours.length).toBe(expected.length);
    const firstDiff = ours.findIndex((b, i) => b !== expected[i]);
    expect(firstDiff, `first differing byte of ${type}`).toBe(-1);

    const ggmlValues = join(work, `${type}.f32`);
    ggml(["dequantize", String(code), ggmlBlocks, String(values.length), ggmlValues]);
    const reference = new Float32Array(new Uint8Array(readFileSync(ggmlValues)).buffer);
    const back = dequantizeBlocks(type, expected, values.length);
    const mismatches = back.reduce((n, v, i) => n + (Object.is(v, reference[i]!) ? 0 : 1), 0);
    expect(mismatches).toBe(0);
  });
});
