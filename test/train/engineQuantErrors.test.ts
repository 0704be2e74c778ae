// Malformed quantized models in the native engine: NaN/infinite F16 scales, huge scales, random
// corruption of the block data, truncation and types the engine does not read. Each gives a clear
// error or finite results; the process never aborts (it would take this test file down with it).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BLOCK_QUANT_TYPES, readGgufHeader, writeTinyModel, type BlockQuantType, type TinyModelDtype } from "../../src/gguf/index.js";
import { SeededRandom } from "../../src/util/seededRandom.js";
import { Engine } from "../../src/train/index.js";
import { F16, SCALE_FIELDS } from "../helpers/quantBlocks.js";

const work = mkdtempSync(join(tmpdir(), "spogw-engine-quant-err-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const TOKENS = Int32Array.from([1, 40, 41, 42, 80, 81]);
const dtypeOf = (type: BlockQuantType) => type.toLowerCase() as TinyModelDtype;

/** A tiny model of `type` and the bytes and offsets of one of its matrices. */
async function model(type: BlockQuantType): Promise<{ path: string; bytes: Buffer; tensor: { name: string; at: number; length: number; blockBytes: number } }> {
  const path = join(work, `${type}.gguf`);
  const k = type.endsWith("_K");
  await writeTinyModel(path, { arch: "llama", seed: 2, layers: 1, embd: k ? 256 : 64, ff: k ? 512 : 128, dtype: dtypeOf(type) });
  const info = readGgufHeader(path).tensors.find((t) => t.name === "blk.0.attn_q.weight")!;
  return { path, bytes: readFileSync(path), tensor: { name: info.name, at: info.absoluteOffset, length: info.byteLength, blockBytes: info.type.blockBytes } };
}

/** Loads and runs the model: "finite" when every logit is finite, else the error message. */
async function outcome(path: string): Promise<string> {
  let engine: Engine | undefined;
  try {
    engine = await Engine.load(path);
    const logits = await engine.logits(TOKENS);
    return logits.every(Number.isFinite) ? "finite" : "NON-FINITE LOGITS";
  } catch (error) {
    return (error as Error).message;
  } finally {
    engine?.dispose();
  }
}

describe("engine on malformed quantized models", () => {
  it.each(BLOCK_QUANT_TYPES)("%s: a NaN or infinite scale is refused at load naming the tensor, block and field", async (type) => {
    const { path, bytes, tensor } = await model(type);
    for (const [field, offset] of Object.entries(SCALE_FIELDS[type])) {
      for (const bits of [F16.nan, F16.inf, F16.negInf]) {
        const bad = Buffer.from(bytes);
        bad.writeUInt16LE(bits, tensor.at + 3 * tensor.blockBytes + offset);
        const p = join(work, `${type}-${field}-${bits}.gguf`);
        writeFileSync(p, bad);
        await expect(Engine.load(p)).rejects.toThrow(new RegExp(`tensor blk\\.0\\.attn_q\\.weight \\(${type}\\) block 3 has a non-finite scale ${field}`));
      }
    }
    await expect(outcome(path)).resolves.toBe("finite");
  });

  it.each(BLOCK_QUANT_TYPES)("%s: the largest F16 scale in every block, and random corruption of the blocks, give finite logits or a clear error", async (type) => {
    const { bytes, tensor } = await model(type);
    const allowed = /^(finite|.*the forward pass overflowed float32 at position \d+.*|.*block \d+ has a non-finite scale \w+ .*)$/;
    const huge = Buffer.from(bytes);
    for (let b = 0; b < tensor.length / tensor.blockBytes; b++)
      for (const offset of Object.values(SCALE_FIELDS[type])) huge.writeUInt16LE(F16.max, tensor.at + b * tensor.blockBytes + offset);
    writeFileSync(join(work, `${type}-huge.gguf`), huge);
    expect(await outcome(join(work, `${type}-huge.gguf`))).toMatch(allowed);

    const random = new SeededRandom(9, type);
    for (let trial = 0; trial < 12; trial++) {
      const bad = Buffer.from(bytes);
      for (let f = 0; f < 8; f++) bad[tensor.at + Math.floor(random.next() * tensor.length)] = Math.floor(random.next() * 256);
      const p = join(work, `${type}-random-${trial}.gguf`);
      writeFileSync(p, bad);
      expect(await outcome(p), `trial ${trial}`).toMatch(allowed);
    }
  });

  it("refuses a truncated quantized file and a type it does not read, naming the tensor and what to use", async () => {
    const { bytes, tensor } = await model("Q4_K");
    writeFileSync(join(work, "truncated.gguf"), bytes.subarray(0, tensor.at + 100));
    await expect(Engine.load(join(work, "truncated.gguf"))).rejects.toThrow(/lies outside the file/);
    // The tensor-info type field of blk.0.attn_q.weight (4 bytes before its 8-byte offset) set to IQ4_XS.
    const header = readGgufHeader(join(work, "Q4_K.gguf"));
    const nameAt = bytes.indexOf(Buffer.from("blk.0.attn_q.weight"));
    const typeAt = nameAt + "blk.0.attn_q.weight".length + 4 + 8 * header.tensors.find((t) => t.name === tensor.name)!.dims.length;
    expect(bytes.readUInt32LE(typeAt)).toBe(12); // Q4_K
    const iq = Buffer.from(bytes);
    iq.writeUInt32LE(23, typeAt);
    writeFileSync(join(work, "iq4_xs.gguf"), iq);
    await expect(Engine.load(join(work, "iq4_xs.gguf"))).rejects.toThrow(/tensor blk\.0\.attn_q\.weight .* has type IQ4_XS \(23\), which the trainer cannot read: convert the model to one of .*Q4_K/);
  });
});
