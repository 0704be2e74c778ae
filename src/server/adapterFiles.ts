// The LoRA adapters a server loads at a client's request (vLLM's /v1/load_lora_adapter): only from the
// directories named when it started, never from a path that resolves outside them (symlinks included),
// and never from a file that changes after the check. Each adapter, a GGUF file or a PEFT directory
// (converted), becomes a GGUF file in the server's own directory that node-llama-cpp then loads.
import { constants, fstatSync, openSync, readSync, closeSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { isAbsolute, join, relative, sep } from "node:path";
import { encodeGguf } from "../gguf/writer.js";
import { buildLoraAdapterGguf } from "../gguf/loraAdapter.js";
import type { GgufHeader } from "../gguf/types.js";
import { loraAdapterFromPeft, peftLoraSettings, peftShapeOf } from "../train/peft.js";
import { parseSafetensors } from "../train/safetensors.js";

/** Largest adapter file read (a rank-64 adapter of a 14B model is about 0.5 GiB in F32). */
const MAX_ADAPTER_BYTES = 2 ** 31;
const MAX_CONFIG_BYTES = 1 << 20;

/** A refused or unreadable adapter; `status` is the HTTP status to answer with. */
export class AdapterFileError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 403 | 404,
  ) {
    super(message);
    this.name = "AdapterFileError";
  }
}

export class AdapterDirectories {
  /** The real paths (symlinks resolved) of the allowed directories. */
  private readonly roots: string[];

  /** `dirs` must exist; they are resolved once, at start. */
  constructor(dirs: readonly string[]) {
    this.roots = dirs.map((dir) => {
      let real: string;
      try {
        real = realpathSync(dir);
      } catch (error) {
        throw new Error(`--lora-dir ${dir}: ${(error as NodeJS.ErrnoException).code === "ENOENT" ? "no such directory" : (error as Error).message}`);
      }
      if (!statSync(real).isDirectory()) throw new Error(`--lora-dir ${dir} is not a directory`);
      return real;
    });
  }

  get enabled(): boolean {
    return this.roots.length > 0;
  }

  /**
   * Writes the adapter at `requestedPath` (a GGUF file, or a PEFT directory with adapter_model.safetensors
   * and adapter_config.json) as a GGUF file at `outPath`, for the model `modelHeader`.
   */
  copyAsGguf(requestedPath: string, outPath: string, modelHeader: GgufHeader): void {
    if (!this.enabled) throw new AdapterFileError("this server loads no adapters: start it with --lora-dir DIR", 403);
    if (typeof requestedPath !== "string" || !isAbsolute(requestedPath)) throw new AdapterFileError("lora_path must be an absolute path", 400);
    const path = this.allowedRealPath(requestedPath);
    if (statSync(path).isDirectory()) {
      const config = parseJsonObject(this.readInside(join(path, "adapter_config.json"), MAX_CONFIG_BYTES), `${requestedPath}/adapter_config.json`);
      try {
        peftLoraSettings(config, requestedPath); // a config that cannot convert is refused before its weights are read
      } catch (error) {
        throw new AdapterFileError((error as Error).message, 400);
      }
      const weights = this.readInside(join(path, "adapter_model.safetensors"), MAX_ADAPTER_BYTES);
      let gguf: Uint8Array;
      try {
        const { tensors } = parseSafetensors(weights, `${requestedPath}/adapter_model.safetensors`);
        gguf = encodeGguf(buildLoraAdapterGguf(loraAdapterFromPeft(tensors, config, peftShapeOf(modelHeader), requestedPath), "f32", `PEFT adapter ${requestedPath}`));
      } catch (error) {
        throw new AdapterFileError((error as Error).message, 400);
      }
      writeFileSync(outPath, gguf, { mode: 0o600 });
    } else {
      writeFileSync(outPath, this.readInside(path, MAX_ADAPTER_BYTES), { mode: 0o600 });
    }
  }

  /** The real path of `path`, which must exist and lie inside an allowed directory. */
  private allowedRealPath(path: string): string {
    let real: string;
    try {
      real = realpathSync(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new AdapterFileError(`lora_path ${path}: ${code === "ENOENT" || code === "ENOTDIR" ? "no such file or directory" : code ?? "unreadable"}`, 404);
    }
    const inside = this.roots.some((root) => {
      const rel = relative(root, real);
      return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
    });
    if (!inside) throw new AdapterFileError(`lora_path ${path} resolves outside the adapter directories this server was started with (--lora-dir)`, 403);
    return real;
  }

  /**
   * The bytes of the regular file `path` (checked again inside the allowed directories), read through
   * one descriptor opened without following a final symlink, so the file checked is the file read.
   */
  private readInside(path: string, maxBytes: number): Buffer {
    const real = this.allowedRealPath(path);
    let fd: number;
    try {
      fd = openSync(real, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (error) {
      throw new AdapterFileError(`${path}: ${(error as NodeJS.ErrnoException).code ?? "unreadable"}`, 404);
    }
    try {
      const stat = fstatSync(fd);
      if (!stat.isFile()) throw new AdapterFileError(`${path} is not a regular file`, 400);
      if (stat.size > maxBytes) throw new AdapterFileError(`${path} is ${stat.size} bytes, more than the ${maxBytes} an adapter may have`, 400);
      const bytes = Buffer.alloc(stat.size);
      let read = 0;
      while (read < bytes.length) {
        const n = readSync(fd, bytes, read, bytes.length - read, read);
        if (n === 0) throw new AdapterFileError(`${path} shrank while it was read`, 400);
        read += n;
      }
      return bytes;
    } finally {
      closeSync(fd);
    }
  }
}

function parseJsonObject(bytes: Buffer, source: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString("utf8"));
  } catch (error) {
    throw new AdapterFileError(`${source} is not JSON: ${(error as Error).message}`, 400);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new AdapterFileError(`${source} is not a JSON object`, 400);
  return value as Record<string, unknown>;
}
