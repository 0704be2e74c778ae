// An open GGUF file: its checked header, plus tensor data read on demand (never the whole file at once).
import { type ByteSource, bufferByteSource, fileByteSource } from "./byteSource.js";
import { dequantizeToFloat32 } from "./dequantize.js";
import { parseGgufHeader } from "./reader.js";
import type { GgufHeader, GgufMetadata, GgufTensorInfo } from "./types.js";

/** An open GGUF file: its checked header, plus tensor data read on demand. Call close() when done. */
export class GgufFile {
  private constructor(
    private readonly source: ByteSource,
    readonly header: GgufHeader,
  ) {}

  static open(path: string): GgufFile {
    const source = fileByteSource(path);
    try {
      return new GgufFile(source, parseGgufHeader(source));
    } catch (error) {
      source.close();
      throw error;
    }
  }

  static fromBytes(bytes: Uint8Array, label = "buffer"): GgufFile {
    const source = bufferByteSource(bytes, label);
    return new GgufFile(source, parseGgufHeader(source));
  }

  get metadata(): GgufMetadata {
    return this.header.metadata;
  }

  tensor(name: string): GgufTensorInfo {
    const info = this.header.tensors.find((t) => t.name === name);
    if (!info) throw new Error(`${this.source.label}: no tensor named '${name}'`);
    return info;
  }

  /** The tensor's bytes exactly as stored (no padding). */
  tensorBytes(nameOrInfo: string | GgufTensorInfo): Uint8Array {
    const info = typeof nameOrInfo === "string" ? this.tensor(nameOrInfo) : nameOrInfo;
    return this.source.read(info.absoluteOffset, info.byteLength);
  }

  /** The tensor as float32 values in stored order (F32, F16, BF16 and Q8_0 are supported). */
  tensorFloat32(nameOrInfo: string | GgufTensorInfo): Float32Array {
    const info = typeof nameOrInfo === "string" ? this.tensor(nameOrInfo) : nameOrInfo;
    return dequantizeToFloat32(info.type, this.tensorBytes(info), info.elementCount, info.name);
  }

  close(): void {
    this.source.close();
  }
}

