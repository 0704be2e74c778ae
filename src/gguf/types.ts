// GGUF v3 vocabulary: metadata value types, ggml tensor types with their block layouts, and the shapes
// the reader returns and the writer accepts. Numbers follow ggml's gguf.h / ggml.h.
import type { BlockQuantType } from "./quants.js";

/** Metadata value type codes as stored in the file (u32). */
export const GGUF_VALUE_TYPE_CODES = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
} as const;

export type GgufValueTypeName = keyof typeof GGUF_VALUE_TYPE_CODES;
/** A type an array's items may have (GGUF, like ggml, has no arrays of arrays). */
export type GgufItemTypeName = Exclude<GgufValueTypeName, "array">;
export type GgufNumberTypeName = "uint8" | "int8" | "uint16" | "int16" | "uint32" | "int32" | "float32" | "float64";
export type GgufBigIntTypeName = "uint64" | "int64";

export type GgufScalar =
  | { type: GgufNumberTypeName; value: number }
  | { type: GgufBigIntTypeName; value: bigint }
  | { type: "bool"; value: boolean }
  | { type: "string"; value: string };

export type GgufArray =
  | { type: "array"; itemType: GgufNumberTypeName; items: number[] }
  | { type: "array"; itemType: GgufBigIntTypeName; items: bigint[] }
  | { type: "array"; itemType: "bool"; items: boolean[] }
  | { type: "array"; itemType: "string"; items: string[] };

/** One metadata value with the exact type it has (or will have) in the file. */
export type GgufValue = GgufScalar | GgufArray;

/** Metadata in file order. */
export type GgufMetadata = Map<string, GgufValue>;

export const GGUF_MAGIC = "GGUF";
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** ggml tensors have at most four dimensions. */
export const GGML_MAX_DIMS = 4;

/** A ggml tensor type: elements per block and bytes per block (ggml-common.h). */
export interface GgmlTypeInfo {
  name: string;
  code: number;
  blockSize: number;
  blockBytes: number;
}

// Only the types whose block layout is fixed and known here; any other code is refused by the reader.
const GGML_TYPE_LIST: GgmlTypeInfo[] = [
  { name: "F32", code: 0, blockSize: 1, blockBytes: 4 },
  { name: "F16", code: 1, blockSize: 1, blockBytes: 2 },
  { name: "Q4_0", code: 2, blockSize: 32, blockBytes: 18 },
  { name: "Q4_1", code: 3, blockSize: 32, blockBytes: 20 },
  { name: "Q5_0", code: 6, blockSize: 32, blockBytes: 22 },
  { name: "Q5_1", code: 7, blockSize: 32, blockBytes: 24 },
  { name: "Q8_0", code: 8, blockSize: 32, blockBytes: 34 },
  { name: "Q8_1", code: 9, blockSize: 32, blockBytes: 36 },
  { name: "Q2_K", code: 10, blockSize: 256, blockBytes: 84 },
  { name: "Q3_K", code: 11, blockSize: 256, blockBytes: 110 },
  { name: "Q4_K", code: 12, blockSize: 256, blockBytes: 144 },
  { name: "Q5_K", code: 13, blockSize: 256, blockBytes: 176 },
  { name: "Q6_K", code: 14, blockSize: 256, blockBytes: 210 },
  { name: "Q8_K", code: 15, blockSize: 256, blockBytes: 292 },
  { name: "IQ2_XXS", code: 16, blockSize: 256, blockBytes: 66 },
  { name: "IQ2_XS", code: 17, blockSize: 256, blockBytes: 74 },
  { name: "IQ3_XXS", code: 18, blockSize: 256, blockBytes: 98 },
  { name: "IQ1_S", code: 19, blockSize: 256, blockBytes: 50 },
  { name: "IQ4_NL", code: 20, blockSize: 32, blockBytes: 18 },
  { name: "IQ3_S", code: 21, blockSize: 256, blockBytes: 110 },
  { name: "IQ2_S", code: 22, blockSize: 256, blockBytes: 82 },
  { name: "IQ4_XS", code: 23, blockSize: 256, blockBytes: 136 },
  { name: "I8", code: 24, blockSize: 1, blockBytes: 1 },
  { name: "I16", code: 25, blockSize: 1, blockBytes: 2 },
  { name: "I32", code: 26, blockSize: 1, blockBytes: 4 },
  { name: "I64", code: 27, blockSize: 1, blockBytes: 8 },
  { name: "F64", code: 28, blockSize: 1, blockBytes: 8 },
  { name: "IQ1_M", code: 29, blockSize: 256, blockBytes: 56 },
  { name: "BF16", code: 30, blockSize: 1, blockBytes: 2 },
];

export const GGML_TYPES_BY_CODE: ReadonlyMap<number, GgmlTypeInfo> = new Map(GGML_TYPE_LIST.map((t) => [t.code, t]));
export const GGML_TYPES_BY_NAME: ReadonlyMap<string, GgmlTypeInfo> = new Map(GGML_TYPE_LIST.map((t) => [t.name, t]));

/** Types the writer can produce from Float32Array data. */
export type GgufWritableTensorType = "F32" | "F16" | "BF16" | BlockQuantType;

/** One tensor as described in the file's tensor-info section. */
export interface GgufTensorInfo {
  name: string;
  /** ggml order: dims[0] is the contiguous (fastest) dimension; a row-major [rows, cols] matrix is [cols, rows]. */
  dims: number[];
  type: GgmlTypeInfo;
  /** Byte offset relative to the start of the data section, as stored. */
  relativeOffset: number;
  /** Absolute byte offset of the tensor data in the file. */
  absoluteOffset: number;
  /** Bytes of tensor data (without alignment padding). */
  byteLength: number;
  elementCount: number;
  /** Where this tensor's info record starts in the file (for error messages). */
  infoOffset: number;
}

/** Everything in a GGUF file except the tensor data itself. */
export interface GgufHeader {
  version: number;
  metadata: GgufMetadata;
  tensors: GgufTensorInfo[];
  alignment: number;
  /** Absolute offset of the data section. */
  dataOffset: number;
  fileSize: number;
}
