// A GBNF grammar (llama.cpp's grammar format, usable with node-llama-cpp's grammar-constrained
// sampling) for a subset of the workflow language, for generators too weak to stay on format: one
// `async function workflow(ops)` of declarations, pushes, literal-bounded `for` loops and a return,
// whose expressions are awaited operator calls of the family, Promise.all over them, strings, arrays,
// names and `+`. Everything it produces parses; the validator still checks names and call counts.
import type { TaskFamily } from "./family.js";
import { operatorsFor } from "./operators/catalog.js";
import { RULES_BY_FAMILY } from "./rules.js";

export function workflowGrammar(family: TaskFamily): string {
  const operatorNames = operatorsFor(family).map((op) => `"${op.name}"`).join(" | ");
  const loopBound = `[1-${Math.min(9, RULES_BY_FAMILY[family].maxLoopIterations)}]`;
  return String.raw`root ::= "async function workflow(ops) {\n" statement+ "  return " expression ";\n}"
statement ::= indent (declaration | push | loop) "\n"
indent ::= "  " "  "?
declaration ::= ("const " | "let ") name " = " expression ";"
push ::= name ".push(" expression ");"
loop ::= "for (let i = 0; i < " ${loopBound} "; i++) {\n" ("    " (declaration | push) "\n")+ indent "}"
expression ::= term (" + " term)*
term ::= "await " call | "await Promise.all([" call (", " call)* "])" | string | array | name
call ::= "ops." operator "(" (expression (", " expression)*)? ")"
operator ::= ${operatorNames}
array ::= "[" (expression (", " expression)*)? "]"
string ::= "\"" character{1,200} "\""
character ::= [^"\\\n] | "\\" ["\\n]
name ::= [a-z] [a-zA-Z0-9]{0,15}
`;
}
