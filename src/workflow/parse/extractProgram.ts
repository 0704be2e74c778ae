// Cuts the workflow program out of a generator completion: between <workflow> tags (or before the
// closing tag, when the prompt ended with the opening one), else inside a ```js fence, then from
// `async function workflow` to the brace that closes it, so prose around the code is dropped.
import { tokenizer, tokTypes, type Token } from "acorn";
import { WORKFLOW_CLOSE_TAG, WORKFLOW_OPEN_TAG } from "../generatorPrompt.js";

export type Extraction = { ok: true; code: string } | { ok: false; reason: string };

function candidateRegion(completion: string): string {
  const close = completion.indexOf(WORKFLOW_CLOSE_TAG);
  if (close >= 0) {
    const before = completion.slice(0, close);
    const open = before.lastIndexOf(WORKFLOW_OPEN_TAG);
    return open >= 0 ? before.slice(open + WORKFLOW_OPEN_TAG.length) : before;
  }
  const fence = /```[ \t]*(?:javascript|js|typescript|ts)?[ \t]*\r?\n([\s\S]*?)(?:```|$)/i.exec(completion);
  return fence?.[1] ?? completion;
}

export function extractProgram(completion: string): Extraction {
  const region = candidateRegion(completion);
  // Not requiring `async` here lets the validator say precisely what is wrong with the declaration.
  const start = /(?:async\s+)?function\s+workflow\b/.exec(region);
  if (!start) return { ok: false, reason: "no `async function workflow` in the completion" };
  const fromStart = region.slice(start.index);
  const end = closingBraceEnd(fromStart);
  if (end.ok === false) return end;
  return { ok: true, code: fromStart.slice(0, end.index).trim() };
}

/** Index just past the `}` that closes the function body, found with the JS tokenizer. */
function closingBraceEnd(source: string): { ok: true; index: number } | { ok: false; reason: string } {
  let depth = 0;
  let opened = false;
  try {
    for (const token of tokenizer(source, { ecmaVersion: 2022 }) as Iterable<Token>) {
      if (token.type === tokTypes.braceL || token.type === tokTypes.dollarBraceL) {
        depth++;
        opened = true;
      } else if (token.type === tokTypes.braceR) {
        depth--;
        if (opened && depth === 0) return { ok: true, index: token.end };
      }
    }
  } catch (error) {
    return { ok: false, reason: `syntax error: ${(error as Error).message}` };
  }
  return { ok: false, reason: "the workflow function is not closed (completion cut off?)" };
}
