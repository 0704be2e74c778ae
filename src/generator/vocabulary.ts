// A GGUF model's tokenizer without its weights (node-llama-cpp's vocabulary-only load): what a client of
// a generator server needs to send exact prompt ids, decode the ids it gets back and check that the
// server runs the same model. The tokenization rule is shared with the in-process Generator.
import type { LlamaModel, Token } from "node-llama-cpp";
import { checkLlamaCppModel } from "../gguf/modelChecks.js";
import { readGgufHeader } from "../gguf/reader.js";
import { getLlamaRuntime, withLlamaReason } from "./llamaRuntime.js";

/** Token ids for `text`: special tokens such as <|im_start|> are parsed, and BOS is prepended when the model asks for it. */
export function tokenizeText(model: LlamaModel, text: string): number[] {
  const tokens: number[] = model.tokenize(text, true);
  const bos = model.tokens.bos;
  if (model.tokens.shouldPrependBosToken && bos !== null && tokens[0] !== bos) tokens.unshift(bos);
  return tokens;
}

export class GgufVocabulary {
  private constructor(
    private readonly model: LlamaModel,
    readonly modelPath: string,
    /** Tokens in the vocabulary (ids are 0..size-1). */
    readonly size: number,
  ) {}

  /** Checks the file with our own reader first (llama.cpp aborts on some malformed files), then loads its vocabulary only. */
  static async load(modelPath: string): Promise<GgufVocabulary> {
    const header = readGgufHeader(modelPath);
    checkLlamaCppModel(header, modelPath);
    const tokens = header.metadata.get("tokenizer.ggml.tokens");
    const size = tokens?.type === "array" ? tokens.items.length : 0;
    const llama = await getLlamaRuntime();
    const model = await withLlamaReason(`node-llama-cpp could not read the vocabulary of ${modelPath}`, () => llama.loadModel({ modelPath, vocabOnly: true }));
    return new GgufVocabulary(model, modelPath, size);
  }

  tokenize(text: string): number[] {
    return tokenizeText(this.model, text);
  }

  /** Text of `tokens`; control tokens render as nothing (as Generator.detokenize). */
  detokenize(tokens: readonly number[]): string {
    return this.model.detokenize(tokens as Token[], false);
  }

  isEndOfGeneration(token: number): boolean {
    return this.model.isEogToken(token as Token);
  }

  async dispose(): Promise<void> {
    await this.model.dispose();
  }
}
