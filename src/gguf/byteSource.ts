// Random access to the bytes of a GGUF file without loading it whole: the header is read through a
// moving window and tensor data on demand, so a multi-GB model costs only what is asked for.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";

export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /** Human-readable name for error messages (a path, or "buffer"). */
  readonly label: string;
  /** Exactly `length` bytes at `offset`; the caller guarantees the range lies inside `size`. */
  read(offset: number, length: number): Uint8Array;
  close(): void;
}

export function bufferByteSource(bytes: Uint8Array, label = "buffer"): ByteSource {
  return {
    size: bytes.length,
    label,
    read: (offset, length) => bytes.subarray(offset, offset + length),
    close: () => {},
  };
}

export function fileByteSource(path: string): ByteSource {
  const fd = openSync(path, "r");
  let closed = false;
  const size = fstatSync(fd).size;
  return {
    size,
    label: path,
    read(offset, length) {
      if (closed) throw new Error(`${path}: read after close`);
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const n = readSync(fd, out, done, length - done, offset + done);
        if (n === 0) throw new Error(`${path}: file shrank while reading (got ${done} of ${length} bytes at ${offset})`);
        done += n;
      }
      return out;
    },
    close() {
      if (!closed) closeSync(fd);
      closed = true;
    },
  };
}
