import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readGgufFileInfo } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildTinyModel,
  encodeGguf,
  float16BitsToFloat32,
  float32ToFloat16Bits,
  gguf,
  GgufFile,
  parseGguf,
  writeGgufFile,
  type GgufMetadata,
  type GgufTensorToWrite,
} from "../../src/gguf/index.js";
import { assemble, ByteBuilder, G, T } from "../helpers/ggufBytes.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "spogw-gguf-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The bytes a tensor must have on disk, computed without the writer. */
function expectedTensorBytes(tensor: GgufTensorToWrite): Buffer {
  if (tensor.type === "F32") return Buffer.from(Float32Array.from(tensor.data).buffer);
  return Buffer.from(Uint16Array.from(tensor.data, (v) => float32ToFloat16Bits(v)).buffer);
}

describe("GGUF writer", () => {
  it("lays out header, metadata, tensor info, padding and data as the format specifies", () => {
    const written = encodeGguf({
      metadata: new Map([["a", gguf.number("uint8", 7)]]),
      tensors: [{ name: "t", dims: [2], type: "F32", data: Float32Array.from([1, 2]) }],
    });
    const expected = assemble({
      magic: "GGUF",
      version: 3,
      alignment: 32,
      kvs: [{ key: "a", typeCode: T.uint8, value: (b) => b.u8(7) }],
      tensors: [{ name: "t", dims: [2n], typeCode: G.F32, offset: 0n, data: [...new Uint8Array(Float32Array.from([1, 2]).buffer)] }],
    }).bytes();
    expect(Buffer.from(written).toString("hex")).toBe(Buffer.from(expected).toString("hex"));
  });

  it("refuses tensors whose data does not match their dims, and bad names", () => {
    const metadata: GgufMetadata = new Map();
    expect(() => encodeGguf({ metadata, tensors: [{ name: "t", dims: [3], type: "F32", data: new Float32Array(2) }] })).toThrow(/hold 3 values but data has 2/);
    expect(() => encodeGguf({ metadata, tensors: [{ name: "x".repeat(64), dims: [1], type: "F32", data: new Float32Array(1) }] })).toThrow(/1\.\.63 bytes/);
    expect(() => encodeGguf({ metadata: new Map([["k", gguf.number("uint8", 256)]]), tensors: [] })).toThrow(/does not fit type uint8/);
  });
});

describe("GGUF reader reads back what the writer wrote", () => {
  const metadata: GgufMetadata = new Map([
    ["general.alignment", gguf.uint32(64)],
    ["u8", gguf.number("uint8", 255)],
    ["i8", gguf.number("int8", -128)],
    ["u16", gguf.number("uint16", 65535)],
    ["i16", gguf.number("int16", -32768)],
    ["u32", gguf.number("uint32", 0xffffffff)],
    ["i32", gguf.number("int32", -0x80000000)],
    ["f32", gguf.float32(0.1)],
    ["f64", gguf.number("float64", Math.PI)],
    ["bool.true", gguf.bool(true)],
    ["bool.false", gguf.bool(false)],
    ["string", gguf.string("héllo 日本 🙂\t\n")],
    ["empty string", gguf.string("")],
    ["u64", gguf.bigint("uint64", 2n ** 64n - 1n)],
    ["i64", gguf.bigint("int64", -(2n ** 63n))],
    ["strings", gguf.strings(["a", "", "Ġthe", "<|im_end|>"])],
    ["int32s", gguf.numbers("int32", [1, -2, 3])],
    ["float32s", gguf.numbers("float32", [Math.fround(1.5), Math.fround(-0.25)])],
    ["empty", gguf.numbers("uint8", [])],
    ["bools", { type: "array", itemType: "bool", items: [true, false, true] }],
    ["u64s", { type: "array", itemType: "uint64", items: [0n, 2n ** 40n] }],
  ]);
  const tensors: GgufTensorToWrite[] = [
    { name: "four.dims", dims: [2, 3, 2, 2], type: "F32", data: Float32Array.from({ length: 24 }, (_, i) => i * 0.37 - 3) },
    { name: "half", dims: [5, 3], type: "F16", data: Float32Array.from({ length: 15 }, (_, i) => (i - 7) / 3) },
    { name: "vector", dims: [7], type: "F32", data: Float32Array.from({ length: 7 }, (_, i) => -i) },
  ];

  it("metadata larger than the reader's 1 MiB window, with numbers straddling each window edge", () => {
    // A real vocabulary's size (Qwen2.5: 151936 tokens) spreads the metadata over several windows; a
    // string length read across a window edge once came from the previous window's bytes.
    const tokens = Array.from({ length: 151936 }, (_, i) => `<|pad_${i}|>`);
    const sizes = Array.from({ length: 200_000 }, (_, i) => BigInt(i) * 7919n);
    const metadata: GgufMetadata = new Map([["tokens", gguf.strings(tokens)], ["sizes", { type: "array", itemType: "uint64", items: sizes }]]);
    const header = parseGguf(encodeGguf({ metadata, tensors: [] }));
    expect(header.metadata.get("tokens")).toEqual(gguf.strings(tokens));
    expect(header.metadata.get("sizes")).toEqual({ type: "array", itemType: "uint64", items: sizes });
  });

  it("metadata of every type, in order, with exact values", () => {
    const header = parseGguf(encodeGguf({ metadata, tensors }));
    expect([...header.metadata.keys()]).toEqual([...metadata.keys()]);
    expect(header.metadata).toEqual(metadata);
    expect(header.version).toBe(3);
  });

  it("tensor infos, alignment and tensor bytes exactly", async () => {
    const path = join(dir, "all-types.gguf");
    await writeGgufFile(path, { metadata, tensors });
    const file = GgufFile.open(path);
    try {
      expect(file.header.alignment).toBe(64);
      expect(file.header.dataOffset % 64).toBe(0);
      expect(file.header.tensors.map((t) => [t.name, t.dims, t.type.name])).toEqual(tensors.map((t) => [t.name, t.dims, t.type]));
      for (const tensor of tensors) {
        const info = file.tensor(tensor.name);
        expect(info.absoluteOffset % 64).toBe(0);
        expect(Buffer.from(file.tensorBytes(info)).equals(expectedTensorBytes(tensor))).toBe(true);
      }
      const halfValues = Array.from(tensors[1]!.data, (v) => float16BitsToFloat32(float32ToFloat16Bits(v)));
      expect(Array.from(file.tensorFloat32("half"))).toEqual(halfValues);
      expect(Array.from(file.tensorFloat32("four.dims"))).toEqual(Array.from(tensors[0]!.data));
    } finally {
      file.close();
    }
  });

  it("every tiny-model variant: metadata and tensor bytes", () => {
    for (const arch of ["llama", "qwen2"] as const) {
      for (const dtype of ["f32", "f16"] as const) {
        for (const tied of [false, true]) {
          const model = buildTinyModel({ arch, dtype, tied, kvHeads: 2, seed: 3 });
          const file = GgufFile.fromBytes(encodeGguf(model));
          expect(file.metadata).toEqual(model.metadata);
          expect(file.header.tensors.map((t) => t.name)).toEqual(model.tensors.map((t) => t.name));
          for (const tensor of model.tensors) {
            expect(Buffer.from(file.tensorBytes(tensor.name)).equals(expectedTensorBytes(tensor)), `${arch} ${dtype} ${tensor.name}`).toBe(true);
          }
        }
      }
    }
  });

  it("agrees with node-llama-cpp's own GGUF parser on a tiny model", async () => {
    const path = join(dir, "tiny.gguf");
    const model = buildTinyModel({ arch: "qwen2", dtype: "f16", kvHeads: 2 });
    await writeGgufFile(path, model);
    const theirs = await readGgufFileInfo(path, { readTensorInfo: true, logWarnings: false });
    const ours = GgufFile.open(path);
    try {
      expect(theirs.version).toBe(3);
      expect(theirs.tensorInfo?.map((t) => [t.name, t.dimensions.map(Number), Number(t.ggmlType), Number(t.fileOffset)])).toEqual(
        ours.header.tensors.map((t) => [t.name, t.dims, t.type.code, t.absoluteOffset]),
      );
      const meta = theirs.metadata as unknown as Record<string, Record<string, unknown>>;
      expect(meta.general?.architecture).toBe("qwen2");
      expect((meta.tokenizer?.ggml as Record<string, unknown>).tokens).toEqual((ours.metadata.get("tokenizer.ggml.tokens") as { items: string[] }).items);
      expect((meta.qwen2 as Record<string, unknown>).embedding_length).toBe(64);
    } finally {
      ours.close();
    }
  });

  it("dequantises BF16 and Q8_0 tensors", () => {
    const bf16 = [0x3f80, 0xc040, 0x3e20, 0x0000]; // 1, -3, 0.15625, 0
    const q8Scale = 0x3800; // F16 0.5
    const quants = Array.from({ length: 32 }, (_, i) => i * 8 - 128); // -128 .. 120
    const bf16Bytes = new ByteBuilder();
    for (const v of bf16) bf16Bytes.u16(v);
    const q8Bytes = new ByteBuilder().u16(q8Scale).raw(quants.map((q) => q & 0xff));
    const bytes = assemble({
      magic: "GGUF",
      version: 3,
      alignment: 32,
      kvs: [],
      tensors: [
        { name: "bf", dims: [4n], typeCode: G.BF16, offset: 0n, data: [...bf16Bytes.bytes()] },
        { name: "q8", dims: [32n], typeCode: G.Q8_0, offset: 32n, data: [...q8Bytes.bytes()] },
      ],
    }).bytes();
    const file = GgufFile.fromBytes(bytes);
    expect(Array.from(file.tensorFloat32("bf"))).toEqual([1, -3, 0.15625, 0]);
    expect(Array.from(file.tensorFloat32("q8"))).toEqual(quants.map((q) => 0.5 * q));
  });
});
