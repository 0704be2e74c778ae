// A small GPT-2 style byte-level BPE vocabulary for test models: the 256 byte tokens (ids 0..255, in
// GPT-2's byte->unicode spelling, so id = byte value), a few merges, and three ChatML control tokens.

/** GPT-2's printable stand-in for each byte: printable Latin-1 bytes map to themselves, the rest to U+0100.. */
export function byteToUnicode(byte: number): string {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  if (printable(byte)) return String.fromCodePoint(byte);
  let index = 0;
  for (let b = 0; b < byte; b++) if (!printable(b)) index++;
  return String.fromCodePoint(256 + index);
}

/** Merges in rank order, written as GPT-2 symbols ("Ġ" is the space byte); each result is a token. */
const MERGES: Array<[string, string]> = [
  ["Ġ", "t"], ["h", "e"], ["i", "n"], ["e", "r"], ["a", "n"], ["o", "n"], ["r", "e"], ["Ġ", "a"],
  ["Ġt", "he"], ["e", "n"], ["o", "r"], ["Ġ", "s"], ["Ġ", "w"], ["e", "s"], ["a", "t"], ["i", "s"],
];

export const CONTROL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] as const;

/** llama.cpp token types. */
export const TOKEN_TYPE_NORMAL = 1;
export const TOKEN_TYPE_CONTROL = 3;

export interface TinyVocab {
  tokens: string[];
  tokenTypes: number[];
  /** "left right" strings in rank order. */
  merges: string[];
  endOfTextId: number;
  imStartId: number;
  imEndId: number;
}

export function buildTinyVocab(): TinyVocab {
  const tokens = Array.from({ length: 256 }, (_, b) => byteToUnicode(b));
  for (const [left, right] of MERGES) tokens.push(left + right);
  const firstControl = tokens.length;
  tokens.push(...CONTROL_TOKENS);
  const tokenTypes = tokens.map((_, id) => (id >= firstControl ? TOKEN_TYPE_CONTROL : TOKEN_TYPE_NORMAL));
  return {
    tokens,
    tokenTypes,
    merges: MERGES.map(([left, right]) => `${left} ${right}`),
    endOfTextId: firstControl,
    imStartId: firstControl + 1,
    imEndId: firstControl + 2,
  };
}

/** ChatML, as Qwen2 models use it. */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
