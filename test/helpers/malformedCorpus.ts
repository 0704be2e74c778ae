// Malformed GGUF files, each with the field and byte offset the reader must name. Built from the valid
// base file of ggufBytes.ts by changing one thing.
import { assemble, baseSpec, G, T, type FileSpec } from "./ggufBytes.js";

export interface MalformedCase {
  name: string;
  bytes: Uint8Array;
  /** The reader's error.field must match this. */
  field: RegExp;
  /** The reader's error.byteOffset must equal this. */
  offset: number;
}

type Marks = (name: string) => number;

function mutate(name: string, change: (spec: FileSpec) => void, field: RegExp, offsetOf: (at: Marks, length: number) => number): MalformedCase {
  const spec = baseSpec();
  change(spec);
  const built = assemble(spec);
  return { name, bytes: built.bytes(), field, offset: offsetOf((m) => built.at(m), built.length) };
}

/** The valid file cut short at `length` bytes. */
function truncated(name: string, cutAt: (at: Marks) => number, field: RegExp, offsetOf: (at: Marks) => number): MalformedCase {
  const built = assemble(baseSpec());
  const at: Marks = (m) => built.at(m);
  return { name, bytes: built.bytes().subarray(0, cutAt(at)), field, offset: offsetOf(at) };
}

/** Overwrites bytes of the valid file at a marked field. */
function patched(name: string, mark: string, bytes: number[], field: RegExp, offsetOf: (at: Marks) => number = (at) => at(mark)): MalformedCase {
  const built = assemble(baseSpec());
  const out = built.bytes();
  out.set(bytes, built.at(mark));
  return { name, bytes: out, field, offset: offsetOf((m) => built.at(m)) };
}

const u64 = (v: bigint) => Array.from({ length: 8 }, (_, i) => Number((BigInt.asUintN(64, v) >> BigInt(8 * i)) & 0xffn));
const u32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];

export function malformedCorpus(): MalformedCase[] {
  return [
    // Truncations, one in every section.
    truncated("empty file", () => 0, /^header\.magic$/, () => 0),
    truncated("cut inside the magic", () => 2, /^header\.magic$/, () => 0),
    truncated("cut inside the version", (at) => at("version") + 3, /^header\.version$/, (at) => at("version")),
    truncated("cut inside n_tensors", (at) => at("n_tensors") + 5, /^header\.n_tensors$/, (at) => at("n_tensors")),
    truncated("cut before the metadata", (at) => at("kv0.key"), /^header\.n_(kv|tensors)$/, (at) => at("n_tensors")),
    truncated("cut inside a key", (at) => at("kv0.key") + 12, /^header\.n_(kv|tensors)$/, (at) => at("n_tensors")),
    truncated("cut inside a string value", (at) => at("kv0.value") + 10, /^header\.n_(kv|tensors)$/, (at) => at("n_tensors")),
    truncated("cut inside the tensor infos", (at) => at("t1.dims0") + 4, /^tensor 'b' dims\[0\]$/, (at) => at("t1.dims0")),
    truncated("cut before the data section", (at) => at("data"), /^tensor 'a' data$/, (at) => at("data")),
    truncated("cut inside the last tensor's data", (at) => at("t1.data") + 7, /^tensor 'b' data$/, (at) => at("t1.data")),
    // Header fields.
    patched("wrong magic", "magic", [0x47, 0x47, 0x4d, 0x4c], /^header\.magic$/),
    patched("GGUF version 1", "version", u32(1), /^header\.version$/),
    patched("GGUF version 4", "version", u32(4), /^header\.version$/),
    patched("byte-swapped (big-endian) version", "version", [0, 0, 0, 3], /^header\.version$/),
    patched("n_tensors 2^63", "n_tensors", u64(1n << 63n), /^header\.n_tensors$/),
    patched("n_kv 2^64-1", "n_kv", u64((1n << 64n) - 1n), /^header\.n_kv$/),
    patched("n_tensors too many for the file", "n_tensors", u64(1000n), /^header\.n_tensors$/),
    // Metadata.
    patched("key length 2^62", "kv0.key", u64(1n << 62n), /^metadata\[0\]\.key length$/),
    patched("empty key", "kv0.key", u64(0n), /^metadata\[0\]\.key$/),
    mutate("duplicate key", (s) => { s.kvs[3]!.key = "test.array"; }, /^metadata\[3\]\.key$/, (at) => at("kv3.key")),
    patched("unknown value type 13", "kv0.type", u32(13), /^metadata 'general\.architecture' type$/),
    mutate("array of arrays", (s) => { s.kvs[2]!.value = (b) => b.u32(T.array).u64(0); }, /array item type$/, (at) => at("kv2.value")),
    mutate("unknown array item type", (s) => { s.kvs[2]!.value = (b) => b.u32(99).u64(0); }, /array item type$/, (at) => at("kv2.value")),
    mutate("array count 2^60", (s) => { s.kvs[2]!.value = (b) => b.u32(T.uint32).u64(1n << 60n); }, /array count$/, (at) => at("kv2.value") + 4),
    patched("string value length 2^40", "kv0.value", u64(1n << 40n), /^metadata 'general\.architecture' value length$/),
    mutate("string value not UTF-8", (s) => { s.kvs[0]!.value = (b) => b.str(Uint8Array.from([0x6c, 0xff, 0xfe])); }, /^metadata 'general\.architecture' value$/, (at) => at("kv0.value") + 8),
    patched("bool value 2", "kv3.value", [2], /^metadata 'test\.flag' value$/),
    patched("alignment 24 (not a power of two)", "kv1.value", u32(24), /^metadata 'general\.alignment'$/, (at) => at("kv1.type")),
    patched("alignment 0", "kv1.value", u32(0), /^metadata 'general\.alignment'$/, (at) => at("kv1.type")),
    patched("alignment typed int32", "kv1.type", u32(T.int32), /^metadata 'general\.alignment'$/, (at) => at("kv1.type")),
    // Tensor infos.
    patched("tensor name length 2^50", "t0.name", u64(1n << 50n), /^tensor\[0\]\.name length$/),
    mutate("empty tensor name", (s) => { s.tensors[0]!.name = ""; }, /^tensor\[0\]\.name$/, (at) => at("t0.name")),
    mutate("tensor name of 64 bytes", (s) => { s.tensors[0]!.name = "x".repeat(64); }, /^tensor\[0\]\.name$/, (at) => at("t0.name")),
    mutate("duplicate tensor name", (s) => { s.tensors[1]!.name = "a"; }, /^tensor\[1\]\.name$/, (at) => at("t1.name")),
    patched("n_dims 0", "t0.n_dims", u32(0), /^tensor 'a' n_dims$/),
    patched("n_dims 5", "t0.n_dims", u32(5), /^tensor 'a' n_dims$/),
    patched("a zero dimension", "t0.dims1", u64(0n), /^tensor 'a' dims\[1\]$/),
    mutate("dims whose product overflows", (s) => { s.tensors[0]!.dims = [1n << 40n, 1n << 40n]; }, /^tensor 'a' dims\[1\]$/, (at) => at("t0.dims1")),
    patched("dimension 2^64-1", "t0.dims0", u64((1n << 64n) - 1n), /^tensor 'a' dims\[0\]$/),
    patched("unknown tensor type 99", "t0.type", u32(99), /^tensor 'a' type$/),
    patched("removed tensor type 4 (Q4_2)", "t0.type", u32(4), /^tensor 'a' type$/),
    patched("Q8_0 row not a multiple of 32", "t0.type", u32(G.Q8_0), /^tensor 'a' dims\[0\]$/, (at) => at("t0.n_dims") + 4),
    patched("Q5_1 row not a multiple of 32", "t0.type", u32(G.Q5_1), /^tensor 'a' dims\[0\]$/, (at) => at("t0.n_dims") + 4),
    patched("Q4_K row not a multiple of 256", "t0.type", u32(G.Q4_K), /^tensor 'a' dims\[0\]$/, (at) => at("t0.n_dims") + 4),
    mutate("Q6_K row of 32 (a Q8_0 block, not a super-block)", (s) => { s.tensors[1]!.dims = [32n]; s.tensors[1]!.typeCode = G.Q6_K; }, /^tensor 'b' dims\[0\]$/, (at) => at("t1.dims0")),
    mutate("Q2_K data beyond the end", (s) => { s.tensors[1]!.dims = [256n]; s.tensors[1]!.typeCode = G.Q2_K; }, /^tensor 'b' data$/, (at) => at("t1.data")),
    mutate("Q4_0 data beyond the end", (s) => { s.tensors[1]!.dims = [64n]; s.tensors[1]!.typeCode = G.Q4_0; }, /^tensor 'b' data$/, (at) => at("t1.data")),
    patched("tensor offset not packed", "t1.offset", u64(64n), /^tensor 'b' offset$/),
    patched("tensor offset 2^62", "t0.offset", u64(1n << 62n), /^tensor 'a' offset$/),
    patched("tensor offset unaligned", "t1.offset", u64(16n), /^tensor 'b' offset$/),
    mutate("tensor data beyond the end", (s) => { s.tensors[1]!.dims = [800n]; }, /^tensor 'b' data$/, (at) => at("t1.data")),
  ];
}
