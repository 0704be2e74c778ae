// Input checks for the loss API, run before anything reaches the native core. Every message names the
// argument, what was found and what is needed. The core checks the same sizes again (it never trusts
// its caller) and scans hidden and lmHead for non-finite values on its worker thread, before computing.

export class LossInputError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = "LossInputError";
  }
}

export interface Shape {
  /** tokens */
  T: number;
  /** hidden size */
  d: number;
  /** vocabulary size */
  V: number;
}

function fail(fn: string, message: string): never {
  throw new LossInputError(`${fn}: ${message}`);
}

export function requireFloat32(fn: string, name: string, value: unknown): asserts value is Float32Array {
  if (!(value instanceof Float32Array)) fail(fn, `${name} must be a Float32Array (got ${describe(value)})`);
}

export function requireInt32(fn: string, name: string, value: unknown): asserts value is Int32Array {
  if (!(value instanceof Int32Array)) fail(fn, `${name} must be an Int32Array (got ${describe(value)})`);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  return (value as object).constructor?.name ?? "object";
}

/** T = targets.length, d = hidden.length / T and V = lmHead.length / d, each a whole number >= 1. */
export function deriveShape(fn: string, hidden: Float32Array, lmHead: Float32Array, targets: Int32Array): Shape {
  const T = targets.length;
  if (T === 0) fail(fn, "targets is empty; there are no tokens to score");
  if (hidden.length === 0 || hidden.length % T !== 0) {
    fail(fn, `hidden has ${hidden.length} values, which is not ${T} tokens (targets.length) times a whole hidden size d`);
  }
  const d = hidden.length / T;
  if (lmHead.length === 0 || lmHead.length % d !== 0) {
    fail(fn, `lmHead has ${lmHead.length} values, which is not a whole number of rows of d = ${d} (lmHead is [V, d])`);
  }
  const V = lmHead.length / d;
  for (let t = 0; t < T; t++) {
    const id = targets[t] as number;
    if (id < 0 || id >= V) fail(fn, `targets[${t}] = ${id} is outside the vocabulary [0, ${V})`);
  }
  return { T, d, V };
}

export function requireFinite(fn: string, name: string, values: Float32Array): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) fail(fn, `${name}[${i}] is ${values[i]}; every value must be finite`);
  }
}

export function requireNumber(fn: string, name: string, value: unknown, check: (v: number) => boolean, need: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || !check(value)) {
    fail(fn, `${name} must be ${need} (got ${String(value)})`);
  }
  return value;
}

export function requireTemperature(fn: string, value: unknown): number {
  return requireNumber(fn, "temperature", value, (v) => v > 0, "a finite number > 0");
}

export function requireLength(fn: string, name: string, values: ArrayLike<number>, want: number, what: string): void {
  if (values.length !== want) fail(fn, `${name} has ${values.length} values but needs ${want} (${what})`);
}

/** seqStarts must be [0, ..., T], strictly increasing (no empty response). Returns S. */
export function checkSeqStarts(fn: string, seqStarts: Int32Array, T: number): number {
  if (seqStarts.length < 2) fail(fn, `seqStarts needs S + 1 >= 2 entries (at least one response), got ${seqStarts.length}`);
  if (seqStarts[0] !== 0) fail(fn, `seqStarts[0] must be 0 (got ${seqStarts[0]})`);
  const S = seqStarts.length - 1;
  for (let i = 0; i < S; i++) {
    const a = seqStarts[i] as number;
    const b = seqStarts[i + 1] as number;
    if (b <= a) {
      fail(fn, `response ${i} is empty or seqStarts decreases there (seqStarts[${i}] = ${a}, seqStarts[${i + 1}] = ${b}); ` +
        "seqStarts must increase strictly from 0 to T");
    }
  }
  if (seqStarts[S] !== T) fail(fn, `seqStarts must end at T = ${T} (the number of targets), got ${seqStarts[S]}`);
  return S;
}
