// The one error the GGUF reader raises for malformed input: it names the field that was wrong and the
// byte offset where that field starts, so a user can look at the file and see what broke.

export class GgufFormatError extends Error {
  constructor(
    /** What was being read, e.g. "header.n_tensors" or "tensor 'blk.0.attn_q.weight' dims[1]". */
    readonly field: string,
    /** Absolute byte offset in the file where that field starts. */
    readonly byteOffset: number,
    /** What was wrong with it. */
    readonly problem: string,
    /** The file (or other source) being read, when known. */
    readonly source?: string,
  ) {
    super(`${source ? `${source}: ` : ""}malformed GGUF: ${field} at byte ${byteOffset}: ${problem}`);
    this.name = "GgufFormatError";
  }
}
