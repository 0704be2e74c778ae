// The prompts operators send to the executor LLM. Worded for this project; the structure (what each
// prompt asks for and which fields come back) follows ScoreFlow's operators.

/** Appended where an operator needs named fields back; `extractField` reads them. */
export function responseFormat(fields: ReadonlyArray<[name: string, description: string]>): string {
  const lines = fields.map(([name, description]) => `<${name}>${description}</${name}>`);
  return `\n\nAnswer in exactly this format, each field once:\n${lines.join("\n")}`;
}

export function customPrompt(instruction: string, input: string): string {
  return `${instruction}\n\n${input}`;
}

export function answerGeneratePrompt(input: string): string {
  return (
    `Think step by step about the following question, then give the final answer as briefly as possible ` +
    `(a name, number, date or short phrase).\n\n${input}` +
    responseFormat([
      ["thought", "your step-by-step reasoning"],
      ["answer", "the short final answer only"],
    ])
  );
}

export function programmerPrompt(input: string, analysis: string, previousAttempt: string): string {
  return (
    `Write a Python 3 program that solves the problem below. Define a function solve() that takes no ` +
    `arguments and returns the final answer; do not read input and do not print. Only the standard ` +
    `library is available.\n\nProblem:\n${input}\n\nAnalysis to use:\n${analysis}` +
    (previousAttempt ? `\n\nA previous attempt failed:\n${previousAttempt}\nFix the cause.` : "") +
    `\n\nReply with the program in one \`\`\`python code block.`
  );
}

export function ensemblePrompt(input: string, solutions: readonly string[]): string {
  const listed = solutions.map((s, i) => `${letterFor(i)}: ${s}`).join("\n\n");
  return (
    `Several solutions to the same problem follow. Decide which final answer is the most consistent ` +
    `among them (the one most solutions agree on) and name that solution's letter.\n\nProblem:\n${input}\n\n` +
    `Solutions:\n${listed}` +
    responseFormat([
      ["thought", "compare the final answers of the solutions"],
      ["solution_letter", "the letter of the chosen solution, one letter only"],
    ])
  );
}

export function reviewPrompt(input: string, solution: string): string {
  return (
    `Review the solution to the problem below. Check its logic, its calculations, whether it ` +
    `understood the question, and the details. Then give a corrected solution (or the same one if it ` +
    `is right), ending with the final answer.\n\nProblem:\n${input}\n\nSolution:\n${solution}` +
    responseFormat([
      ["feedback", "what is wrong or right about the solution"],
      ["revised_solution", "the corrected full solution"],
    ])
  );
}

export function codeGeneratePrompt(instruction: string, input: string, entryPoint: string): string {
  return (
    `${instruction}\n\nYou have the following task:\n${input}\n\n` +
    `Think about the logic, edge cases and what the task really asks. The function must be named ` +
    `${entryPoint}. Reply with the complete Python code (imports included) in one \`\`\`python code block.`
  );
}

export function repairPrompt(input: string, entryPoint: string, solution: string, failure: string): string {
  return (
    `The Python solution below fails a public test of its task.\n\nTask:\n${input}\n\nSolution:\n` +
    `\`\`\`python\n${solution}\n\`\`\`\n\nFailure:\n${failure}\n\nExplain the cause briefly, then give the ` +
    `fixed complete code for ${entryPoint} in one \`\`\`python code block.`
  );
}

export function letterFor(index: number): string {
  return index < 26 ? String.fromCharCode(65 + index) : `Z${index - 25}`;
}
