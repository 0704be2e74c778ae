// safetensors files (the format PEFT and vLLM read adapters from): an 8-byte little-endian header
// length, a JSON header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}},
// then the raw little-endian tensor bytes. Only F32 is written and read here.
import { readFileSync } from "node:fs";

export interface SafetensorsTensor {
  shape: number[];
  data: Float32Array;
}

export function encodeSafetensors(tensors: Map<string, SafetensorsTensor>, metadata: Record<string, string> = {}): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, t] of tensors) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new Error(`safetensors: ${name} has ${t.data.length} values but shape [${t.shape.join(", ")}]`);
    header[name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  // The header is padded with spaces so the data starts 8-byte aligned, as the reference writer does.
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = Buffer.from(json, "utf8");
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let at = 8 + headerBytes.length;
  for (const t of tensors.values()) {
    Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(out, at);
    at += t.data.byteLength;
  }
  return out;
}

export function readSafetensors(path: string): { tensors: Map<string, SafetensorsTensor>; metadata: Record<string, string> } {
  return parseSafetensors(readFileSync(path), path);
}

/** The tensors and metadata of safetensors bytes; errors name `source` and what is wrong. */
export function parseSafetensors(bytes: Buffer, source: string): { tensors: Map<string, SafetensorsTensor>; metadata: Record<string, string> } {
  const fail = (why: string): never => {
    throw new Error(`${source}: not a valid safetensors file: ${why}`);
  };
  if (bytes.length < 8) fail("shorter than its 8-byte header length");
  const headerLength = Number(bytes.readBigUInt64LE(0));
  if (headerLength > bytes.length - 8) fail(`header length ${headerLength} exceeds the file`);
  let header: Record<string, { dtype?: string; shape?: number[]; data_offsets?: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString("utf8"));
  } catch (e) {
    return fail(`header is not JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) fail("header is not a JSON object");
  const dataStart = 8 + headerLength;
  const tensors = new Map<string, SafetensorsTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = entry as Record<string, string>;
      continue;
    }
    if (entry === null || typeof entry !== "object") fail(`${name} is not a tensor entry`);
    const { dtype, shape, data_offsets: offsets } = entry as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    if (dtype !== "F32") fail(`${name} has dtype ${String(dtype)} (only F32 is supported)`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`${name} has an invalid shape`);
    if (!Array.isArray(offsets) || offsets.length !== 2) fail(`${name} has invalid data_offsets`);
    const [begin, end] = offsets as [number, number];
    const count = shape!.reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || begin < 0 || end !== begin + count * 4 || dataStart + end > bytes.length)
      fail(`${name} data_offsets [${begin}, ${end}] do not match its shape or lie outside the file`);
    const data = new Float32Array(count);
    Buffer.from(data.buffer).set(bytes.subarray(dataStart + begin, dataStart + end));
    tensors.set(name, { shape: shape!, data });
  }
  return { tensors, metadata };
}
