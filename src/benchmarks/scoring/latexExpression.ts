// A small parser and evaluator for the LaTeX of MATH answers: numbers, + - * / ^, \frac, \sqrt[n]{},
// \pi, \cdot, \times, \div, factorial, brackets, implicit multiplication ("2\sqrt{3}", "3x") and
// single-letter or Greek variables. Anything else (subscripts, \log, \sin, |x|, words) is "not understood"
// and the caller falls back to comparing text. Evaluation is in floating point.

export type Expr =
  | { kind: "number"; value: number }
  | { kind: "variable"; name: string }
  | { kind: "negate"; arg: Expr }
  | { kind: "binary"; op: "+" | "-" | "*" | "/" | "^"; left: Expr; right: Expr }
  | { kind: "root"; arg: Expr; index: Expr }
  | { kind: "factorial"; arg: Expr };

const greekLetters = new Set([
  "alpha", "beta", "gamma", "delta", "epsilon", "theta", "lambda", "mu", "phi", "psi", "omega", "rho", "sigma", "tau",
]);
const multiplyCommands = new Set(["cdot", "times"]);

class NotUnderstood extends Error {}

class Parser {
  private pos = 0;
  constructor(private readonly text: string) {}

  parseAll(): Expr {
    const expr = this.expression();
    this.skipSpaces();
    if (this.pos < this.text.length) throw new NotUnderstood(`unexpected ${this.text.slice(this.pos, this.pos + 10)}`);
    return expr;
  }

  private skipSpaces(): void {
    while (this.text[this.pos] === " ") this.pos++;
  }

  private peek(): string {
    this.skipSpaces();
    return this.text[this.pos] ?? "";
  }

  /** The command name at the cursor (after a backslash), without consuming it; "" if none. */
  private peekCommand(): string {
    this.skipSpaces();
    if (this.text[this.pos] !== "\\") return "";
    return /^[A-Za-z]+/.exec(this.text.slice(this.pos + 1))?.[0] ?? "";
  }

  private expect(char: string): void {
    if (this.peek() !== char) throw new NotUnderstood(`expected ${char}`);
    this.pos++;
  }

  private expression(): Expr {
    let left = this.term();
    for (;;) {
      const c = this.peek();
      if (c !== "+" && c !== "-") return left;
      this.pos++;
      left = { kind: "binary", op: c, left, right: this.term() };
    }
  }

  private term(): Expr {
    let left = this.signed();
    for (;;) {
      const c = this.peek();
      const command = this.peekCommand();
      if (c === "*" || c === "/") {
        this.pos++;
        left = { kind: "binary", op: c, left, right: this.signed() };
      } else if (multiplyCommands.has(command) || command === "div") {
        this.pos += command.length + 1;
        left = { kind: "binary", op: command === "div" ? "/" : "*", left, right: this.signed() };
      } else if (this.startsPrimary()) {
        left = { kind: "binary", op: "*", left, right: this.power() }; // implicit multiplication
      } else return left;
    }
  }

  private startsPrimary(): boolean {
    const c = this.peek();
    if (/[0-9.A-Za-z({[]/.test(c)) return c !== "";
    const command = this.peekCommand();
    return command === "frac" || command === "sqrt" || command === "pi" || greekLetters.has(command);
  }

  private signed(): Expr {
    const c = this.peek();
    if (c === "-" || c === "+") {
      this.pos++;
      const arg = this.signed();
      return c === "-" ? { kind: "negate", arg } : arg;
    }
    return this.power();
  }

  private power(): Expr {
    let base = this.postfix(this.primary());
    if (this.peek() === "^") {
      this.pos++;
      base = { kind: "binary", op: "^", left: base, right: this.argument(true) };
    }
    return base;
  }

  private postfix(expr: Expr): Expr {
    while (this.peek() === "!") {
      this.pos++;
      expr = { kind: "factorial", arg: expr };
    }
    return expr;
  }

  /**
   * An argument of \frac, \sqrt or ^: a braced group, or one character ("\frac12", "x^2"), or one command
   * ("\frac\pi2"). `allowSigned` lets an exponent be "-1" without braces.
   */
  private argument(allowSigned = false): Expr {
    const c = this.peek();
    if (c === "{") {
      this.pos++;
      const inner = this.expression();
      this.expect("}");
      return inner;
    }
    if (allowSigned && c === "-") {
      this.pos++;
      return { kind: "negate", arg: this.argument() };
    }
    if (/[0-9]/.test(c)) {
      this.pos++;
      return { kind: "number", value: Number(c) };
    }
    if (/[A-Za-z]/.test(c)) {
      this.pos++;
      return { kind: "variable", name: c };
    }
    if (c === "(") return this.primary();
    if (c === "\\") return this.primary();
    throw new NotUnderstood("missing argument");
  }

  private primary(): Expr {
    const c = this.peek();
    if (/[0-9.]/.test(c)) {
      const match = /^(?:\d+(?:\.\d*)?|\.\d+)/.exec(this.text.slice(this.pos));
      if (!match) throw new NotUnderstood("bad number");
      this.pos += match[0].length;
      return { kind: "number", value: Number(match[0]) };
    }
    const closing = ({ "(": ")", "[": "]", "{": "}" } as Record<string, string>)[c];
    if (closing) {
      this.pos++;
      const inner = this.expression();
      this.expect(closing);
      return inner;
    }
    if (/[A-Za-z]/.test(c)) {
      // Three letters in a row are a word ("and", "Devon"), not a product of variables.
      if (/^[A-Za-z]{3}/.test(this.text.slice(this.pos))) throw new NotUnderstood("a word");
      this.pos++;
      return { kind: "variable", name: c };
    }
    const command = this.peekCommand();
    if (command) {
      this.pos += command.length + 1;
      if (command === "frac") {
        const numerator = this.argument();
        return { kind: "binary", op: "/", left: numerator, right: this.argument() };
      }
      if (command === "sqrt") {
        let index: Expr = { kind: "number", value: 2 };
        if (this.peek() === "[") {
          this.pos++;
          index = this.expression();
          this.expect("]");
        }
        return { kind: "root", arg: this.argument(), index };
      }
      if (command === "pi") return { kind: "number", value: Math.PI };
      if (greekLetters.has(command)) return { kind: "variable", name: command };
      throw new NotUnderstood(`\\${command}`);
    }
    throw new NotUnderstood(c ? `unexpected ${c}` : "unexpected end");
  }
}

/** Longer answers are compared as text only: no MATH answer comes near this, and it bounds the recursion. */
export const maxExpressionLength = 1000;

/** The expression tree of `text`, or null when the text is outside the supported subset. */
export function parseLatexExpression(text: string): Expr | null {
  if (text.trim() === "" || text.length > maxExpressionLength) return null;
  try {
    return new Parser(text).parseAll();
  } catch (error) {
    if (error instanceof NotUnderstood) return null;
    throw error;
  }
}

export function freeVariables(expr: Expr, into = new Set<string>()): Set<string> {
  switch (expr.kind) {
    case "variable":
      into.add(expr.name);
      break;
    case "negate":
    case "factorial":
      freeVariables(expr.arg, into);
      break;
    case "binary":
      freeVariables(expr.left, into);
      freeVariables(expr.right, into);
      break;
    case "root":
      freeVariables(expr.arg, into);
      freeVariables(expr.index, into);
      break;
    case "number":
      break;
  }
  return into;
}

function factorial(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 170) return NaN;
  let out = 1;
  for (let k = 2; k <= n; k++) out *= k;
  return out;
}

/** Value of `expr` with the given variable values (NaN where undefined, e.g. the square root of -1). */
export function evaluate(expr: Expr, values: ReadonlyMap<string, number>): number {
  switch (expr.kind) {
    case "number":
      return expr.value;
    case "variable":
      return values.get(expr.name) ?? NaN;
    case "negate":
      return -evaluate(expr.arg, values);
    case "factorial":
      return factorial(evaluate(expr.arg, values));
    case "root": {
      const arg = evaluate(expr.arg, values);
      const index = evaluate(expr.index, values);
      // An odd root of a negative number is real (\sqrt[3]{-8} = -2).
      if (arg < 0 && Number.isInteger(index) && index % 2 === 1) return -Math.pow(-arg, 1 / index);
      return Math.pow(arg, 1 / index);
    }
    case "binary": {
      const a = evaluate(expr.left, values);
      const b = evaluate(expr.right, values);
      switch (expr.op) {
        case "+":
          return a + b;
        case "-":
          return a - b;
        case "*":
          return a * b;
        case "/":
          return a / b;
        case "^":
          return Math.pow(a, b);
      }
    }
  }
}
