// A hand-rolled GGUF byte assembler for tests, independent of src/gguf/writer.ts: it lays out exactly
// the fields it is given (valid or not) and remembers where each one starts, so tests can check the
// byte offsets the reader reports.

export class ByteBuilder {
  private readonly out: number[] = [];
  readonly marks = new Map<string, number>();

  get length(): number {
    return this.out.length;
  }

  mark(name: string): this {
    this.marks.set(name, this.out.length);
    return this;
  }

  at(name: string): number {
    const offset = this.marks.get(name);
    if (offset === undefined) throw new Error(`no mark ${name}`);
    return offset;
  }

  raw(bytes: ArrayLike<number>): this {
    for (let i = 0; i < bytes.length; i++) this.out.push(bytes[i]! & 0xff);
    return this;
  }

  u8(v: number): this {
    return this.raw([v]);
  }

  u16(v: number): this {
    return this.raw([v, v >>> 8]);
  }

  u32(v: number): this {
    return this.raw([v, v >>> 8, v >>> 16, v >>> 24]);
  }

  u64(v: bigint | number): this {
    const big = BigInt.asUintN(64, BigInt(v));
    for (let i = 0n; i < 8n; i++) this.out.push(Number((big >> (8n * i)) & 0xffn));
    return this;
  }

  f32(v: number): this {
    return this.raw(new Uint8Array(new Float32Array([v]).buffer));
  }

  /** GGUF string: u64 byte length (or `declaredLength`), then the bytes. */
  str(s: string | Uint8Array, declaredLength?: bigint): this {
    const bytes = typeof s === "string" ? new TextEncoder().encode(s) : s;
    return this.u64(declaredLength ?? BigInt(bytes.length)).raw(bytes);
  }

  padTo(alignment: number): this {
    while (this.out.length % alignment !== 0) this.out.push(0);
    return this;
  }

  bytes(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}

export interface KvSpec {
  key: string | Uint8Array;
  keyLength?: bigint;
  typeCode: number;
  /** Writes the value (after the type code). */
  value: (b: ByteBuilder) => void;
}

export interface TensorSpec {
  name: string;
  nameLength?: bigint;
  nDims?: number;
  dims: bigint[];
  typeCode: number;
  offset: bigint;
  data: number[];
}

export interface FileSpec {
  magic: string;
  version: number;
  nTensors?: bigint;
  nKv?: bigint;
  kvs: KvSpec[];
  tensors: TensorSpec[];
  alignment: number;
}

/** Value type codes (gguf.h). */
export const T = { uint8: 0, uint16: 2, uint32: 4, int32: 5, float32: 6, bool: 7, string: 8, array: 9, uint64: 10 } as const;
/** ggml tensor type codes. */
export const G = { F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q5_0: 6, Q5_1: 7, Q8_0: 8, Q2_K: 10, Q3_K: 11, Q4_K: 12, Q5_K: 13, Q6_K: 14, BF16: 30 } as const;

/**
 * A small valid GGUF: four metadata entries (string, uint32 alignment, uint32 array, bool) and two
 * tensors, 'a' F32 [4, 2] and 'b' F16 [8]. Tests change fields to make it malformed.
 */
export function baseSpec(): FileSpec {
  const f32Bytes = Array.from(new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]).buffer));
  const f16Bytes = [0x00, 0x3c, 0x00, 0x40, 0x00, 0x42, 0x00, 0x44, 0x00, 0x45, 0x00, 0x46, 0x00, 0x47, 0x00, 0x48]; // 1..8
  return {
    magic: "GGUF",
    version: 3,
    alignment: 32,
    kvs: [
      { key: "general.architecture", typeCode: T.string, value: (b) => b.str("llama") },
      { key: "general.alignment", typeCode: T.uint32, value: (b) => b.u32(32) },
      { key: "test.array", typeCode: T.array, value: (b) => b.u32(T.uint32).u64(3).u32(1).u32(2).u32(3) },
      { key: "test.flag", typeCode: T.bool, value: (b) => b.u8(1) },
    ],
    tensors: [
      { name: "a", dims: [4n, 2n], typeCode: G.F32, offset: 0n, data: f32Bytes },
      { name: "b", dims: [8n], typeCode: G.F16, offset: 32n, data: f16Bytes },
    ],
  };
}

/** Lays out `spec` field by field, marking: version, n_tensors, n_kv, kvI.key/.type/.value, tI.name/.n_dims/.dimsD/.type/.offset/.data, data. */
export function assemble(spec: FileSpec): ByteBuilder {
  const b = new ByteBuilder();
  b.mark("magic").raw(new TextEncoder().encode(spec.magic));
  b.mark("version").u32(spec.version);
  b.mark("n_tensors").u64(spec.nTensors ?? BigInt(spec.tensors.length));
  b.mark("n_kv").u64(spec.nKv ?? BigInt(spec.kvs.length));
  spec.kvs.forEach((kv, i) => {
    b.mark(`kv${i}.key`).str(kv.key, kv.keyLength);
    b.mark(`kv${i}.type`).u32(kv.typeCode);
    b.mark(`kv${i}.value`);
    kv.value(b);
  });
  spec.tensors.forEach((t, i) => {
    b.mark(`t${i}.name`).str(t.name, t.nameLength);
    b.mark(`t${i}.n_dims`).u32(t.nDims ?? t.dims.length);
    t.dims.forEach((d, j) => b.mark(`t${i}.dims${j}`).u64(d));
    b.mark(`t${i}.type`).u32(t.typeCode);
    b.mark(`t${i}.offset`).u64(t.offset);
  });
  b.padTo(spec.alignment).mark("data");
  spec.tensors.forEach((t, i) => {
    b.mark(`t${i}.data`).raw(t.data);
    b.padTo(spec.alignment);
  });
  return b;
}
