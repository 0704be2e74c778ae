// GGUF v2/v3 reader. Nothing read from the file is trusted: every count, length, dimension, type and
// offset is checked against the file size and ggml's own limits before it is used, so a malformed
// file yields a GgufFormatError (field + byte offset), never a huge allocation, a crash or a hang.
// The checks are at least as strict as ggml's gguf.cpp, so a file this reader accepts is not refused
// by llama.cpp's GGUF parser (llama.cpp may still refuse it as a model, e.g. a missing key).
import { ByteCursor } from "./byteCursor.js";
import { type ByteSource, bufferByteSource, fileByteSource } from "./byteSource.js";
import {
  GGML_MAX_DIMS,
  GGML_TYPES_BY_CODE,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_VALUE_TYPE_CODES,
  type GgufHeader,
  type GgufItemTypeName,
  type GgufMetadata,
  type GgufTensorInfo,
  type GgufValue,
  type GgufValueTypeName,
} from "./types.js";

const VALUE_TYPE_NAMES = new Map<number, GgufValueTypeName>(
  Object.entries(GGUF_VALUE_TYPE_CODES).map(([name, code]) => [code, name as GgufValueTypeName]),
);

/** Bytes one array item takes at least (a string takes its 8-byte length). */
const MIN_ITEM_BYTES: Record<GgufItemTypeName, number> = {
  uint8: 1, int8: 1, bool: 1, uint16: 2, int16: 2, uint32: 4, int32: 4, float32: 4,
  uint64: 8, int64: 8, float64: 8, string: 8,
};
/** Smallest key-value record: empty-key length (8) + type (4) + a 1-byte value. */
const MIN_KV_BYTES = 13;
/** Smallest tensor-info record: name length (8) + n_dims (4) + one dim (8) + type (4) + offset (8). */
const MIN_TENSOR_INFO_BYTES = 32;
/** ggml's GGML_MAX_NAME is 64 including the terminating NUL. */
const MAX_TENSOR_NAME_BYTES = 63;

/** Parses the header, metadata and tensor infos of a GGUF held in memory. */
export function parseGguf(bytes: Uint8Array, label = "buffer"): GgufHeader {
  return parseGgufHeader(bufferByteSource(bytes, label));
}

/** Reads and checks only the header part of a GGUF file (metadata and tensor table). */
export function readGgufHeader(path: string): GgufHeader {
  const source = fileByteSource(path);
  try {
    return parseGgufHeader(source);
  } finally {
    source.close();
  }
}

export function parseGgufHeader(source: ByteSource): GgufHeader {
  const cursor = new ByteCursor(source);
  const magic = cursor.bytes(4, "header.magic");
  const magicText = String.fromCharCode(...magic);
  if (magicText !== GGUF_MAGIC) {
    cursor.fail("header.magic", 0, `expected "GGUF", found ${JSON.stringify(magicText)} (not a GGUF file)`);
  }
  const version = cursor.u32("header.version");
  if ((version & 0xffff) === 0 && version !== 0) {
    cursor.fail("header.version", 4, `${version} looks byte-swapped: big-endian GGUF files are not supported`);
  }
  if (version !== 2 && version !== 3) cursor.fail("header.version", 4, `version ${version} is not supported (only 2 and 3)`);

  const tensorCount = cursor.u64Bounded("header.n_tensors", Math.floor(cursor.remaining / MIN_TENSOR_INFO_BYTES), "tensor count", "the most tensor infos the rest of the file can hold");
  const kvCount = cursor.u64Bounded("header.n_kv", Math.floor(cursor.remaining / MIN_KV_BYTES), "metadata count", "the most entries the rest of the file can hold");
  if (tensorCount * MIN_TENSOR_INFO_BYTES + kvCount * MIN_KV_BYTES > cursor.remaining) {
    cursor.fail("header.n_tensors", 8, `${tensorCount} tensors and ${kvCount} metadata entries cannot fit in the ${source.size}-byte file`);
  }

  const metadata = readMetadata(cursor, kvCount);
  const alignment = alignmentOf(metadata);
  const tensors = readTensorInfos(cursor, tensorCount);

  const dataOffset = alignUp(cursor.position, alignment);
  if (tensorCount > 0) cursor.seek(dataOffset, "data section");
  placeTensorData(cursor, tensors, dataOffset, alignment, source.size);
  return { version, metadata, tensors, alignment, dataOffset, fileSize: source.size };
}

function readMetadata(cursor: ByteCursor, count: number): GgufMetadata {
  const metadata: GgufMetadata = new Map();
  for (let i = 0; i < count; i++) {
    const keyOffset = cursor.position;
    const key = cursor.string(`metadata[${i}].key`);
    if (key.length === 0) cursor.fail(`metadata[${i}].key`, keyOffset, "is empty");
    if (metadata.has(key)) cursor.fail(`metadata[${i}].key`, keyOffset, `duplicate key '${key}'`);
    const valueOffset = cursor.position;
    const value = readValue(cursor, `metadata '${key}'`);
    if (key === "general.alignment") checkAlignment(cursor, value, valueOffset);
    metadata.set(key, value);
  }
  return metadata;
}

/** ggml requires general.alignment, when present, to be a uint32 power of two. */
function checkAlignment(cursor: ByteCursor, value: GgufValue, offset: number): void {
  const field = "metadata 'general.alignment'";
  if (value.type !== "uint32") cursor.fail(field, offset, `must be uint32, found ${value.type}`);
  if (value.value === 0 || (value.value & (value.value - 1)) !== 0) cursor.fail(field, offset, `${value.value} is not a power of two`);
}

function readValueType(cursor: ByteCursor, field: string): GgufValueTypeName {
  const at = cursor.position;
  const code = cursor.u32(field);
  const name = VALUE_TYPE_NAMES.get(code);
  if (name === undefined) cursor.fail(field, at, `unknown value type ${code}`);
  return name;
}

function readValue(cursor: ByteCursor, field: string): GgufValue {
  const type = readValueType(cursor, `${field} type`);
  if (type !== "array") return readScalar(cursor, type, `${field} value`);

  const itemTypeOffset = cursor.position;
  const itemType = readValueType(cursor, `${field} array item type`);
  if (itemType === "array") cursor.fail(`${field} array item type`, itemTypeOffset, "arrays of arrays are not supported");
  const count = cursor.u64Bounded(`${field} array count`, Math.floor(cursor.remaining / MIN_ITEM_BYTES[itemType]), "item count", "the most items the rest of the file can hold");
  const items: unknown[] = new Array(count);
  for (let i = 0; i < count; i++) items[i] = readScalar(cursor, itemType, `${field}[${i}]`).value;
  return { type: "array", itemType, items } as GgufValue;
}

function readScalar(cursor: ByteCursor, type: GgufItemTypeName, field: string): Exclude<GgufValue, { type: "array" }> {
  switch (type) {
    case "uint8": return { type, value: cursor.u8(field) };
    case "int8": return { type, value: cursor.i8(field) };
    case "uint16": return { type, value: cursor.u16(field) };
    case "int16": return { type, value: cursor.i16(field) };
    case "uint32": return { type, value: cursor.u32(field) };
    case "int32": return { type, value: cursor.i32(field) };
    case "float32": return { type, value: cursor.f32(field) };
    case "float64": return { type, value: cursor.f64(field) };
    case "uint64": return { type, value: cursor.u64(field) };
    case "int64": return { type, value: cursor.i64(field) };
    case "string": return { type, value: cursor.string(field) };
    case "bool": {
      const at = cursor.position;
      const byte = cursor.u8(field);
      if (byte > 1) cursor.fail(field, at, `bool must be 0 or 1, found ${byte}`);
      return { type, value: byte === 1 };
    }
  }
}

function alignmentOf(metadata: GgufMetadata): number {
  const value = metadata.get("general.alignment");
  return value?.type === "uint32" ? value.value : GGUF_DEFAULT_ALIGNMENT;
}

function readTensorInfos(cursor: ByteCursor, count: number): GgufTensorInfo[] {
  const tensors: GgufTensorInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < count; i++) {
    const infoOffset = cursor.position;
    const name = cursor.string(`tensor[${i}].name`);
    const nameBytes = Buffer.byteLength(name);
    if (nameBytes === 0 || nameBytes > MAX_TENSOR_NAME_BYTES) {
      cursor.fail(`tensor[${i}].name`, infoOffset, `name must be 1..${MAX_TENSOR_NAME_BYTES} bytes, found ${nameBytes}`);
    }
    if (names.has(name)) cursor.fail(`tensor[${i}].name`, infoOffset, `duplicate tensor name '${name}'`);
    names.add(name);
    const field = `tensor '${name}'`;

    const dimsOffset = cursor.position;
    const dimCount = cursor.u32(`${field} n_dims`);
    if (dimCount < 1 || dimCount > GGML_MAX_DIMS) cursor.fail(`${field} n_dims`, dimsOffset, `must be 1..${GGML_MAX_DIMS}, found ${dimCount}`);
    const dims: number[] = [];
    let elements = 1n;
    for (let d = 0; d < dimCount; d++) {
      const at = cursor.position;
      const dim = cursor.u64(`${field} dims[${d}]`);
      if (dim < 1n) cursor.fail(`${field} dims[${d}]`, at, "is 0");
      elements *= dim;
      // ggml limits element counts to int64; a JS number must hold them exactly too.
      if (elements > BigInt(Number.MAX_SAFE_INTEGER)) cursor.fail(`${field} dims[${d}]`, at, `dimension ${dim} makes the element count overflow`);
      dims.push(Number(dim));
    }

    const typeOffset = cursor.position;
    const typeCode = cursor.u32(`${field} type`);
    const type = GGML_TYPES_BY_CODE.get(typeCode);
    if (!type) cursor.fail(`${field} type`, typeOffset, `unknown or unsupported ggml type ${typeCode}`);
    if (dims[0]! % type.blockSize !== 0) {
      cursor.fail(`${field} dims[0]`, dimsOffset + 4, `${dims[0]} is not a multiple of the ${type.name} block size ${type.blockSize}`);
    }
    const byteLength = (Number(elements) / type.blockSize) * type.blockBytes;
    if (!Number.isSafeInteger(byteLength)) cursor.fail(`${field} dims`, dimsOffset, "byte size overflows");

    const relativeOffset = cursor.u64Bounded(`${field} offset`, Number.MAX_SAFE_INTEGER, "offset", "the largest offset this reader handles (2^53 - 1)");
    tensors.push({ name, dims, type, relativeOffset, absoluteOffset: 0, byteLength, elementCount: Number(elements), infoOffset });
  }
  return tensors;
}

/**
 * Checks that tensors are packed in info order with each one padded to the alignment (what ggml
 * requires) and that all of their data, padding included, lies inside the file.
 */
function placeTensorData(cursor: ByteCursor, tensors: GgufTensorInfo[], dataOffset: number, alignment: number, fileSize: number): void {
  let expectedOffset = 0;
  for (const tensor of tensors) {
    // The offset field is the last 8 bytes of the info record.
    const offsetFieldAt = tensor.infoOffset + 8 + Buffer.byteLength(tensor.name) + 4 + 8 * tensor.dims.length + 4;
    if (tensor.relativeOffset !== expectedOffset) {
      cursor.fail(`tensor '${tensor.name}' offset`, offsetFieldAt,
        `is ${tensor.relativeOffset} but tensors must be packed in order with ${alignment}-byte padding, so it must be ${expectedOffset}`);
    }
    tensor.absoluteOffset = dataOffset + tensor.relativeOffset;
    expectedOffset += alignUp(tensor.byteLength, alignment);
    if (dataOffset + expectedOffset > fileSize) {
      cursor.fail(`tensor '${tensor.name}' data`, tensor.absoluteOffset,
        `needs ${alignUp(tensor.byteLength, alignment)} bytes (with padding) but the file ends at byte ${fileSize}`);
    }
  }
}

function alignUp(offset: number, alignment: number): number {
  return Math.ceil(offset / alignment) * alignment;
}

