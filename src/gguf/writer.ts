// GGUF v3 writer for models and LoRA adapters: metadata of every type, tensor infos, alignment padding,
// and tensor data as F32, F16, BF16 or a block-quantized type (Q8_0, Q4_0 .. Q6_K, quantized as ggml's
// reference quantizers do: quants.ts). Tensors are packed in the order given, each padded to the
// alignment, which is the layout llama.cpp requires.
import { writeFile } from "node:fs/promises";
import { float32ArrayToBfloat16Bits, float32ArrayToFloat16Bits } from "./float16.js";
import { isBlockQuantType, quantBlockValues, quantizeBlocks } from "./quants.js";
import {
  GGML_MAX_DIMS,
  GGML_TYPES_BY_NAME,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_VALUE_TYPE_CODES,
  type GgufItemTypeName,
  type GgufMetadata,
  type GgufValue,
  type GgufWritableTensorType,
} from "./types.js";

export interface GgufTensorToWrite {
  name: string;
  /** ggml order: dims[0] is the contiguous dimension (a row-major [rows, cols] matrix is [cols, rows]). */
  dims: number[];
  type: GgufWritableTensorType;
  /** Values in storage order; length = product of dims. */
  data: Float32Array;
}

export interface GgufFileToWrite {
  metadata: GgufMetadata;
  tensors: GgufTensorToWrite[];
}

/** Encodes a whole GGUF v3 file into memory. */
export function encodeGguf(file: GgufFileToWrite): Uint8Array {
  const alignment = alignmentFrom(file.metadata);
  const tensorBytes = file.tensors.map(encodeTensorData);
  const out = new GrowableBuffer();
  out.bytes(Buffer.from("GGUF", "latin1"));
  out.u32(3);
  out.u64(BigInt(file.tensors.length));
  out.u64(BigInt(file.metadata.size));
  for (const [key, value] of file.metadata) {
    if (key.length === 0) throw new Error("metadata key must not be empty");
    out.string(key);
    writeValue(out, value, key);
  }
  const names = new Set<string>();
  let dataOffset = 0;
  file.tensors.forEach((tensor, i) => {
    if (names.has(tensor.name)) throw new Error(`duplicate tensor name '${tensor.name}'`);
    names.add(tensor.name);
    out.string(tensor.name);
    out.u32(tensor.dims.length);
    for (const dim of tensor.dims) out.u64(BigInt(dim));
    out.u32(GGML_TYPES_BY_NAME.get(tensor.type)!.code);
    out.u64(BigInt(dataOffset));
    dataOffset += alignUp(tensorBytes[i]!.length, alignment);
  });
  out.padTo(alignment);
  for (const bytes of tensorBytes) {
    out.bytes(bytes);
    out.padTo(alignment);
  }
  return out.result();
}

export async function writeGgufFile(path: string, file: GgufFileToWrite): Promise<void> {
  await writeFile(path, encodeGguf(file));
}

function alignmentFrom(metadata: GgufMetadata): number {
  const value = metadata.get("general.alignment");
  if (value === undefined) return GGUF_DEFAULT_ALIGNMENT;
  if (value.type !== "uint32" || value.value === 0 || (value.value & (value.value - 1)) !== 0) {
    throw new Error("general.alignment must be a uint32 power of two");
  }
  return value.value;
}

function encodeTensorData(tensor: GgufTensorToWrite): Uint8Array {
  const { name, dims, data } = tensor;
  if (Buffer.byteLength(name) === 0 || Buffer.byteLength(name) > 63) throw new Error(`tensor name '${name}' must be 1..63 bytes`);
  if (dims.length < 1 || dims.length > GGML_MAX_DIMS) throw new Error(`tensor '${name}': 1..${GGML_MAX_DIMS} dims allowed, got ${dims.length}`);
  if (!dims.every((d) => Number.isSafeInteger(d) && d >= 1)) throw new Error(`tensor '${name}': dims must be positive integers, got [${dims}]`);
  const elements = dims.reduce((a, b) => a * b, 1);
  if (elements !== data.length) throw new Error(`tensor '${name}': dims [${dims}] hold ${elements} values but data has ${data.length}`);
  switch (tensor.type) {
    case "F32":
      return new Uint8Array(Float32Array.from(data).buffer);
    case "F16":
      return new Uint8Array(float32ArrayToFloat16Bits(data).buffer);
    case "BF16":
      return new Uint8Array(float32ArrayToBfloat16Bits(data).buffer);
    default: {
      if (!isBlockQuantType(tensor.type)) throw new Error(`tensor '${name}': cannot write type ${String(tensor.type)}`);
      const block = quantBlockValues(tensor.type);
      if (dims[0]! % block !== 0) throw new Error(`tensor '${name}': ${tensor.type} needs a row length (dims[0]) that is a multiple of ${block}, got ${dims[0]}`);
      return quantizeBlocks(tensor.type, data);
    }
  }
}

function writeValue(out: GrowableBuffer, value: GgufValue, key: string): void {
  out.u32(GGUF_VALUE_TYPE_CODES[value.type]);
  if (value.type !== "array") {
    writeScalar(out, value.type, value.value, key);
    return;
  }
  out.u32(GGUF_VALUE_TYPE_CODES[value.itemType]);
  out.u64(BigInt(value.items.length));
  for (const item of value.items) writeScalar(out, value.itemType, item, key);
}

function writeScalar(out: GrowableBuffer, type: GgufItemTypeName, value: unknown, key: string): void {
  const wrongType = () => new Error(`metadata '${key}': value ${String(value)} does not fit type ${type}`);
  if (type === "string") {
    if (typeof value !== "string") throw wrongType();
    out.string(value);
  } else if (type === "bool") {
    if (typeof value !== "boolean") throw wrongType();
    out.u8(value ? 1 : 0);
  } else if (type === "uint64" || type === "int64") {
    const [min, max] = type === "uint64" ? [0n, 2n ** 64n - 1n] : [-(2n ** 63n), 2n ** 63n - 1n];
    if (typeof value !== "bigint" || value < min || value > max) throw wrongType();
    out.big(type, value);
  } else {
    if (typeof value !== "number" || !out.fits(type, value)) throw wrongType();
    out.number(type, value);
  }
}

function alignUp(offset: number, alignment: number): number {
  return Math.ceil(offset / alignment) * alignment;
}

const INTEGER_RANGES: Record<string, [number, number]> = {
  uint8: [0, 0xff], int8: [-0x80, 0x7f], uint16: [0, 0xffff], int16: [-0x8000, 0x7fff],
  uint32: [0, 0xffffffff], int32: [-0x80000000, 0x7fffffff],
};

/** Appends little-endian values to a buffer that doubles as needed. */
class GrowableBuffer {
  private buffer = Buffer.alloc(1 << 16);
  private length = 0;

  /** Makes room for `n` more bytes and returns where they start. Read this.buffer only after calling it. */
  private reserve(n: number): number {
    if (this.length + n > this.buffer.length) {
      const bigger = Buffer.alloc(Math.max(this.buffer.length * 2, this.length + n));
      this.buffer.copy(bigger, 0, 0, this.length);
      this.buffer = bigger;
    }
    const at = this.length;
    this.length += n;
    return at;
  }

  fits(type: string, value: number): boolean {
    const range = INTEGER_RANGES[type];
    if (!range) return true; // float32 / float64: any number
    return Number.isInteger(value) && value >= range[0] && value <= range[1];
  }

  u8(v: number): void {
    this.number("uint8", v);
  }
  u32(v: number): void {
    this.number("uint32", v);
  }
  u64(v: bigint): void {
    this.big("uint64", v);
  }

  number(type: string, v: number): void {
    const size = type.endsWith("8") ? 1 : type.endsWith("16") ? 2 : type === "float64" ? 8 : 4;
    const at = this.reserve(size);
    const b = this.buffer;
    switch (type) {
      case "uint8": b.writeUInt8(v, at); break;
      case "int8": b.writeInt8(v, at); break;
      case "uint16": b.writeUInt16LE(v, at); break;
      case "int16": b.writeInt16LE(v, at); break;
      case "uint32": b.writeUInt32LE(v, at); break;
      case "int32": b.writeInt32LE(v, at); break;
      case "float32": b.writeFloatLE(v, at); break;
      case "float64": b.writeDoubleLE(v, at); break;
      default: throw new Error(`not a number type: ${type}`);
    }
  }

  big(type: "uint64" | "int64", v: bigint): void {
    const at = this.reserve(8);
    if (type === "uint64") this.buffer.writeBigUInt64LE(v, at);
    else this.buffer.writeBigInt64LE(v, at);
  }

  string(s: string): void {
    const bytes = Buffer.from(s, "utf8");
    this.u64(BigInt(bytes.length));
    this.bytes(bytes);
  }

  bytes(b: Uint8Array): void {
    const at = this.reserve(b.length);
    this.buffer.set(b, at);
  }

  padTo(alignment: number): void {
    this.reserve(alignUp(this.length, alignment) - this.length); // Buffer.alloc zero-fills
  }

  result(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }
}
