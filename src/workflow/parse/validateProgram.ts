// Static checks on a workflow's source, with a real JS parser (acorn): the shape (one async function
// `workflow(ops)`), banned constructs, computed property keys, operator names and arities, loop bounds,
// that every returned value is computed from an operator result, and a static count of operator calls
// (parseWorkflow checks its range). These checks keep generated workflows well-formed and comparable;
// they are not the security boundary (the sandbox is), so a construct they miss is still contained at
// run time.
import { parse, type Node } from "acorn";
import type { TaskFamily } from "../family.js";
import { children, patternNames, type AstNode } from "./astWalk.js";
import { firstUncomputedReturn } from "./returnDataFlow.js";
import { findOperator } from "../operators/catalog.js";
import type { WorkflowRules } from "../rules.js";

export interface ProgramFacts {
  /** Operator calls counted statically: every call site, times the iterations of enclosing loops. */
  estimatedCalls: number;
  operatorsUsed: string[];
  /** Offset of the first `return` whose value carries no operator result (returnDataFlow.ts), or null. */
  uncomputedReturnAt: number | null;
}

export type ProgramCheck = ({ ok: true } & ProgramFacts) | { ok: false; reason: string };

/** Globals a workflow may read; everything else must be declared inside it. */
const ALLOWED_GLOBALS = new Set([
  "Math", "JSON", "String", "Number", "Boolean", "Array", "Promise",
  "parseInt", "parseFloat", "isNaN", "isFinite", "undefined", "NaN", "Infinity",
]);

/** Node types that have no place in a workflow (host access, unbounded loops, metaprogramming). */
const BANNED_NODES: Record<string, string> = {
  ThisExpression: "`this`",
  ImportExpression: "import()",
  ImportDeclaration: "import",
  ExportNamedDeclaration: "export",
  ExportDefaultDeclaration: "export",
  MetaProperty: "new.target / import.meta",
  WithStatement: "`with`",
  ClassDeclaration: "`class`",
  ClassExpression: "`class`",
  WhileStatement: "`while` loops (use a bounded `for`)",
  DoWhileStatement: "`do ... while` loops (use a bounded `for`)",
  ForInStatement: "`for ... in`",
  LabeledStatement: "labels",
  NewExpression: "`new`",
  YieldExpression: "`yield`",
  DebuggerStatement: "`debugger`",
};

/** Property names that lead from ordinary values to constructors and prototypes. */
const BANNED_PROPERTIES = new Set([
  "constructor", "prototype", "__proto__", "__defineGetter__", "__defineSetter__",
  "__lookupGetter__", "__lookupSetter__", "caller", "callee", "arguments",
]);

const BANNED_IDENTIFIERS = new Set(["eval", "Function", "globalThis", "arguments", "require", "process", "module"]);

const COMPUTED_KEY_RULE = "a computed property key must be a number, a string literal, or the counter of a literal `for` loop (xs[0], xs[i])";

class Rejection extends Error {}

function reject(node: Node, what: string): never {
  throw new Rejection(`${what} (at offset ${node.start})`);
}

function propertyName(member: AstNode): string | null {
  const property = member.property as AstNode;
  if (!member.computed && property.type === "Identifier") return property.name as string;
  if (property.type === "Literal") return String(property.value);
  return null;
}

/** Names bound anywhere in the function (declarations, parameters, catch clauses, patterns). */
function collectDeclaredNames(root: AstNode): Set<string> {
  const names = new Set<string>();
  const addPattern = (pattern: AstNode | null | undefined): void => patternNames(pattern).forEach((name) => names.add(name));
  const visit = (node: AstNode): void => {
    if (node.type === "VariableDeclarator") addPattern(node.id as AstNode);
    if (node.type === "FunctionDeclaration" || node.type === "FunctionExpression" || node.type === "ArrowFunctionExpression") {
      if (node.id) addPattern(node.id as AstNode);
      for (const p of node.params as AstNode[]) addPattern(p);
    }
    if (node.type === "CatchClause") addPattern(node.param as AstNode | null);
    children(node).forEach(visit);
  };
  visit(root);
  return names;
}

/** Iterations of `for (let i = A; i < B; i++)` with literal bounds, or null when not of that form. */
function literalForIterations(loop: AstNode): number | null {
  const init = loop.init as AstNode | null;
  const test = loop.test as AstNode | null;
  const update = loop.update as AstNode | null;
  if (!init || !test || !update || init.type !== "VariableDeclaration") return null;
  const declarator = (init.declarations as AstNode[])[0];
  const start = declarator?.init as AstNode | undefined;
  const counter = (declarator?.id as AstNode | undefined)?.name;
  if (!counter || start?.type !== "Literal" || typeof start.value !== "number") return null;
  if (test.type !== "BinaryExpression" || (test.left as AstNode).name !== counter) return null;
  const bound = test.right as AstNode;
  if (bound.type !== "Literal" || typeof bound.value !== "number") return null;
  const stepsByOne =
    (update.type === "UpdateExpression" && update.operator === "++" && (update.argument as AstNode).name === counter) ||
    (update.type === "AssignmentExpression" && update.operator === "+=" && (update.left as AstNode).name === counter &&
      (update.right as AstNode).type === "Literal" && (update.right as AstNode).value === 1);
  if (!stepsByOne) return null;
  if (test.operator === "<") return Math.max(0, bound.value - start.value);
  if (test.operator === "<=") return Math.max(0, bound.value - start.value + 1);
  return null;
}

/**
 * Names that always hold a number: counters of `for (let i = A; i < B; i++)` loops with literal bounds,
 * declared nowhere else and changed only by their own loop's update. A computed key may be one of these.
 */
function loopCounters(root: AstNode): Set<string> {
  const loops: AstNode[] = [];
  const collect = (node: AstNode): void => {
    if (node.type === "ForStatement" && literalForIterations(node) !== null) loops.push(node);
    children(node).forEach(collect);
  };
  collect(root);
  const counterDeclarators = new Set(loops.map((loop) => ((loop.init as AstNode).declarations as AstNode[])[0]));
  const updates = new Set(loops.map((loop) => loop.update as AstNode));
  const counters = new Set(loops.map((loop) => (((loop.init as AstNode).declarations as AstNode[])[0]!.id as AstNode).name as string));
  const exclude = (pattern: AstNode | null | undefined): void => patternNames(pattern).forEach((name) => counters.delete(name));
  const visit = (node: AstNode): void => {
    if (node.type === "VariableDeclarator" && !counterDeclarators.has(node)) exclude(node.id as AstNode);
    else if (node.type === "CatchClause") exclude(node.param as AstNode | null);
    else if (node.type === "ArrowFunctionExpression") (node.params as AstNode[]).forEach(exclude);
    else if (node.type === "AssignmentExpression" && !updates.has(node)) exclude(node.left as AstNode);
    else if (node.type === "UpdateExpression" && !updates.has(node)) exclude(node.argument as AstNode);
    children(node).forEach(visit);
  };
  visit(root);
  return counters;
}

class ProgramChecker {
  private estimatedCalls = 0;
  private readonly used = new Set<string>();
  private readonly declared: Set<string>;
  private readonly counters: Set<string>;

  constructor(private readonly family: TaskFamily, private readonly rules: WorkflowRules, fn: AstNode) {
    this.declared = collectDeclaredNames(fn.body as AstNode);
    if (this.declared.has("ops")) reject(fn, "`ops` must not be redeclared");
    this.counters = loopCounters(fn.body as AstNode);
  }

  facts(): Omit<ProgramFacts, "uncomputedReturnAt"> {
    return { estimatedCalls: this.estimatedCalls, operatorsUsed: [...this.used] };
  }

  /** Walks `node`; `multiplier` is how many times the enclosing loops run it. */
  visit(node: AstNode, multiplier: number, parent: AstNode | null): void {
    const banned = BANNED_NODES[node.type];
    if (banned) reject(node, `${banned} is not allowed in a workflow`);
    switch (node.type) {
      case "FunctionDeclaration":
      case "FunctionExpression":
        reject(node, "nested `function`s are not allowed (use arrow functions)");
      case "ArrowFunctionExpression":
        return this.visitArrow(node, multiplier, parent);
      case "ForStatement":
        return this.visitLoop(node, literalForIterations(node), multiplier, "a `for` loop must have literal bounds: for (let i = 0; i < N; i++)");
      case "ForOfStatement":
        return this.visitLoop(node, forOfIterations(node, this.rules), multiplier, "");
      case "Identifier":
        return this.checkIdentifier(node, parent);
      case "MemberExpression":
        this.checkMember(node, parent);
        break;
      case "CallExpression":
        this.countOperatorCall(node, multiplier);
        break;
      case "Property":
        if (node.computed) this.checkComputedKey(node.key as AstNode);
        else if (BANNED_PROPERTIES.has(((node.key as AstNode).name ?? (node.key as AstNode).value) as string)) reject(node, "banned property name");
        if (node.kind !== "init") reject(node, "getters and setters are not allowed");
        break;
    }
    for (const child of children(node)) this.visit(child, multiplier, node);
  }

  private visitArrow(node: AstNode, multiplier: number, parent: AstNode | null): void {
    // A callback passed to `[a, b, c].map(...)` runs once per element; any other arrow may run an
    // unknown number of times, so its calls count as a full loop.
    const callee = parent?.type === "CallExpression" ? (parent.callee as AstNode) : null;
    const mapsLiteral = callee?.type === "MemberExpression" && propertyName(callee) === "map" && (callee.object as AstNode).type === "ArrayExpression";
    const times = mapsLiteral ? ((callee!.object as AstNode).elements as unknown[]).length : this.rules.maxLoopIterations;
    for (const child of children(node)) this.visit(child, multiplier * times, node);
  }

  private visitLoop(node: AstNode, iterations: number | null, multiplier: number, malformed: string): void {
    if (iterations === null) reject(node, malformed);
    if (iterations > this.rules.maxLoopIterations) reject(node, `a loop runs ${iterations} times; at most ${this.rules.maxLoopIterations} allowed`);
    for (const child of children(node)) {
      const inBody = child === node.body;
      this.visit(child, inBody ? multiplier * iterations : multiplier, node);
    }
  }

  private checkIdentifier(node: AstNode, parent: AstNode | null): void {
    const name = node.name as string;
    const isPropertyKey =
      (parent?.type === "MemberExpression" && parent.property === node && !parent.computed) ||
      (parent?.type === "Property" && parent.key === node && !parent.computed);
    if (isPropertyKey) return;
    if (BANNED_IDENTIFIERS.has(name)) reject(node, `\`${name}\` is not allowed in a workflow`);
    if (name === "ops") {
      const isOperatorCall = parent?.type === "MemberExpression" && parent.object === node;
      if (!isOperatorCall) reject(node, "`ops` may only be used as `ops.name(...)`");
      return;
    }
    if (!this.declared.has(name) && !ALLOWED_GLOBALS.has(name)) reject(node, `unknown name \`${name}\``);
  }

  /**
   * A computed key built at run time (`Math.max[String.fromCharCode(...)]`) could name anything,
   * `constructor` included, so only keys known here are allowed.
   */
  private checkComputedKey(key: AstNode): void {
    if (key.type === "Literal" && (typeof key.value === "number" || typeof key.value === "string")) {
      if (BANNED_PROPERTIES.has(String(key.value))) reject(key, `property \`${String(key.value)}\` is not allowed`);
      return;
    }
    if (key.type === "Identifier" && this.counters.has(key.name as string)) return;
    reject(key, COMPUTED_KEY_RULE);
  }

  private checkMember(node: AstNode, parent: AstNode | null): void {
    if (node.computed) this.checkComputedKey(node.property as AstNode);
    const name = propertyName(node);
    if (name !== null && BANNED_PROPERTIES.has(name)) reject(node, `property \`${name}\` is not allowed`);
    const object = node.object as AstNode;
    if (object.type === "Identifier" && object.name === "ops") {
      if (node.computed || name === null) reject(node, "operators must be called by name: ops.name(...)");
      if (!findOperator(this.family, name)) reject(node, `unknown operator \`${name}\` for ${this.family} workflows`);
      if (parent?.type !== "CallExpression" || parent.callee !== node) reject(node, `\`ops.${name}\` must be called`);
    }
  }

  private countOperatorCall(node: AstNode, multiplier: number): void {
    const callee = node.callee as AstNode;
    if (callee.type !== "MemberExpression" || (callee.object as AstNode).name !== "ops") return;
    const name = propertyName(callee);
    const doc = name === null ? undefined : findOperator(this.family, name);
    if (!doc) return; // checkMember rejects it
    const args = node.arguments as AstNode[];
    const required = doc.parameters.filter((p) => p.defaultValue === undefined).length;
    if (args.length < required || args.length > doc.parameters.length) {
      reject(node, `ops.${doc.name} takes ${required === doc.parameters.length ? required : `${required} to ${doc.parameters.length}`} argument(s), got ${args.length}`);
    }
    args.forEach((arg, i) => {
      const kind = doc.parameters[i]!.kind;
      if (arg.type === "SpreadElement") reject(arg, "spread arguments to operators are not allowed");
      if (arg.type === "Literal" && typeof arg.value !== "string") reject(arg, `ops.${doc.name} expects ${kind}, got a ${typeof arg.value} literal`);
      if (kind === "string[]" && (arg.type === "Literal" || arg.type === "TemplateLiteral")) reject(arg, `ops.${doc.name} expects an array of strings`);
    });
    this.estimatedCalls += multiplier;
    this.used.add(doc.name);
  }
}

function forOfIterations(loop: AstNode, rules: WorkflowRules): number {
  const right = loop.right as AstNode;
  // A literal array runs once per element; any other iterable is bounded by the rules' loop limit
  // (an upper estimate: the sandbox's call cap enforces the real bound at run time).
  return right.type === "ArrayExpression" ? (right.elements as unknown[]).length : rules.maxLoopIterations;
}

export function checkProgram(code: string, family: TaskFamily, rules: WorkflowRules): ProgramCheck {
  if (code.length > rules.maxSourceChars) return { ok: false, reason: `workflow is ${code.length} characters; at most ${rules.maxSourceChars}` };
  let program: AstNode;
  try {
    program = parse(code, { ecmaVersion: 2022, sourceType: "script" }) as unknown as AstNode;
  } catch (error) {
    return { ok: false, reason: `syntax error: ${(error as Error).message}` };
  }
  const body = program.body as AstNode[];
  const fn = body[0];
  if (body.length !== 1 || fn?.type !== "FunctionDeclaration") return { ok: false, reason: "the program must be exactly one `async function workflow(ops) { ... }`" };
  if ((fn.id as AstNode).name !== "workflow" || !fn.async || fn.generator) return { ok: false, reason: "the function must be declared as `async function workflow(ops)`" };
  const params = fn.params as AstNode[];
  if (params.length !== 1 || params[0]!.type !== "Identifier" || params[0]!.name !== "ops") return { ok: false, reason: "the function must take exactly one parameter, `ops`" };
  try {
    const checker = new ProgramChecker(family, rules, fn);
    for (const child of children(fn.body as AstNode)) checker.visit(child, 1, fn.body as AstNode);
    if (!hasReturn(fn.body as AstNode)) return { ok: false, reason: "the workflow never returns a value" };
    return { ok: true, ...checker.facts(), uncomputedReturnAt: firstUncomputedReturn(fn.body as AstNode)?.start ?? null };
  } catch (error) {
    if (error instanceof Rejection) return { ok: false, reason: error.message };
    throw error;
  }
}

/** A `return <value>` in the function body itself (not only inside callbacks). */
function hasReturn(node: AstNode): boolean {
  if (node.type === "ReturnStatement") return node.argument !== null;
  if (node.type === "ArrowFunctionExpression") return false;
  return children(node).some(hasReturn);
}
