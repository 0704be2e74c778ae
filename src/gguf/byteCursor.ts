// A little-endian reader over a ByteSource that checks every read against the end of the file and
// reports a GgufFormatError naming the field and its offset when something does not fit.
import type { ByteSource } from "./byteSource.js";
import { GgufFormatError } from "./errors.js";

const WINDOW_BYTES = 1 << 20;
const utf8 = new TextDecoder("utf-8", { fatal: true });

export class ByteCursor {
  private window: Uint8Array = new Uint8Array(0);
  private windowStart = 0;
  private view = new DataView(this.window.buffer);

  constructor(
    private readonly source: ByteSource,
    private pos = 0,
  ) {}

  get position(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.source.size - this.pos;
  }

  fail(field: string, offset: number, problem: string): never {
    throw new GgufFormatError(field, offset, problem, this.source.label);
  }

  /** Moves to `offset`, which must lie inside the file (or at its end). */
  seek(offset: number, field: string): void {
    if (offset > this.source.size) this.fail(field, offset, `lies beyond the end of the file (${this.source.size} bytes)`);
    this.pos = offset;
  }

  /** Makes [pos, pos+length) available in the window and returns its start index there. It may replace
   * the window and its view: callers read this.view only after it returns. */
  private take(length: number, field: string): number {
    if (length > this.remaining) {
      this.fail(field, this.pos, `needs ${length} bytes but the file ends after ${this.remaining}`);
    }
    const windowOffset = this.pos - this.windowStart;
    if (windowOffset < 0 || windowOffset + length > this.window.length) {
      const span = Math.min(Math.max(length, WINDOW_BYTES), this.remaining);
      this.window = this.source.read(this.pos, span);
      this.windowStart = this.pos;
      this.view = new DataView(this.window.buffer, this.window.byteOffset, this.window.byteLength);
    }
    const start = this.pos - this.windowStart;
    this.pos += length;
    return start;
  }

  bytes(length: number, field: string): Uint8Array {
    const at = this.take(length, field);
    return this.window.subarray(at, at + length);
  }

  u8(field: string): number {
    const at = this.take(1, field);
    return this.view.getUint8(at);
  }
  i8(field: string): number {
    const at = this.take(1, field);
    return this.view.getInt8(at);
  }
  u16(field: string): number {
    const at = this.take(2, field);
    return this.view.getUint16(at, true);
  }
  i16(field: string): number {
    const at = this.take(2, field);
    return this.view.getInt16(at, true);
  }
  u32(field: string): number {
    const at = this.take(4, field);
    return this.view.getUint32(at, true);
  }
  i32(field: string): number {
    const at = this.take(4, field);
    return this.view.getInt32(at, true);
  }
  f32(field: string): number {
    const at = this.take(4, field);
    return this.view.getFloat32(at, true);
  }
  f64(field: string): number {
    const at = this.take(8, field);
    return this.view.getFloat64(at, true);
  }
  u64(field: string): bigint {
    const at = this.take(8, field);
    return this.view.getBigUint64(at, true);
  }
  i64(field: string): bigint {
    const at = this.take(8, field);
    return this.view.getBigInt64(at, true);
  }

  /** A u64 count or size that must be at most `max` (why: `limit`), which also keeps it an exact JS number. */
  u64Bounded(field: string, max: number, what: string, limit: string): number {
    const at = this.pos;
    const value = this.u64(field);
    if (value > BigInt(max)) this.fail(field, at, `${what} ${value} exceeds ${max}, ${limit}`);
    return Number(value);
  }

  /** A GGUF string: u64 byte length, then UTF-8 without a terminator. */
  string(field: string): string {
    const at = this.pos;
    const length = this.u64Bounded(`${field} length`, this.remaining - 8, "string length", "the bytes left in the file");
    const raw = this.bytes(length, field);
    try {
      return utf8.decode(raw);
    } catch {
      this.fail(field, at + 8, "is not valid UTF-8");
    }
  }
}
