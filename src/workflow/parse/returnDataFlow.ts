// "Workflows compute their answer": every value a workflow returns must be data-dependent on some
// operator result. A workflow that returns a constant (say, code it carries as a string literal) or
// text built only from literals solves nothing by orchestrating operators, and in RL such an answer
// would be reinforced whenever it happens to score. The analysis is flow-insensitive and errs towards
// accepting: a name is "computed" when any assignment anywhere gives it a value derived from an
// operator call (or from another computed name), found by iterating to a fixed point.
import { children, patternNames, type AstNode } from "./astWalk.js";

function isOperatorCall(node: AstNode): boolean {
  const callee = node.callee as AstNode;
  return node.type === "CallExpression" && callee.type === "MemberExpression" && (callee.object as AstNode).type === "Identifier" && (callee.object as AstNode).name === "ops";
}

/** Return statements of `body` itself, not of the arrow functions inside it. */
function ownReturns(body: AstNode): AstNode[] {
  const found: AstNode[] = [];
  const visit = (node: AstNode): void => {
    if (node.type === "ReturnStatement") found.push(node);
    if (node.type !== "ArrowFunctionExpression") children(node).forEach(visit);
  };
  children(body).forEach(visit);
  return found;
}

class DataFlow {
  readonly computed = new Set<string>();

  /** Whether the value of `node` may carry (part of) an operator result. */
  carries(node: AstNode | null | undefined): boolean {
    if (!node) return false;
    switch (node.type) {
      case "CallExpression":
        return isOperatorCall(node) || this.carries(node.callee as AstNode) || (node.arguments as AstNode[]).some((a) => this.carries(a));
      case "Identifier":
        return this.computed.has(node.name as string);
      case "MemberExpression":
        return this.carries(node.object as AstNode) || (node.computed === true && this.carries(node.property as AstNode));
      case "ConditionalExpression": // the chosen branch's value, not the test's
        return this.carries(node.consequent as AstNode) || this.carries(node.alternate as AstNode);
      case "LogicalExpression":
      case "BinaryExpression":
        return this.carries(node.left as AstNode) || this.carries(node.right as AstNode);
      case "AssignmentExpression":
        return this.carries(node.right as AstNode);
      case "SequenceExpression":
        return this.carries((node.expressions as AstNode[]).at(-1));
      case "TemplateLiteral":
        return (node.expressions as AstNode[]).some((e) => this.carries(e));
      case "TaggedTemplateExpression":
        return this.carries(node.tag as AstNode) || this.carries(node.quasi as AstNode);
      case "ArrayExpression":
        return (node.elements as Array<AstNode | null>).some((e) => this.carries(e));
      case "ObjectExpression":
        return (node.properties as AstNode[]).some((p) => this.carries((p.type === "SpreadElement" ? p.argument : p.value) as AstNode));
      case "AwaitExpression":
      case "SpreadElement":
      case "UnaryExpression":
      case "UpdateExpression":
        return this.carries(node.argument as AstNode);
      case "ChainExpression":
        return this.carries(node.expression as AstNode);
      case "ArrowFunctionExpression": // a function whose result carries one, once called
        return (node.expression === true && this.carries(node.body as AstNode)) || ownReturns(node.body as AstNode).some((r) => this.carries(r.argument as AstNode));
      default:
        return false;
    }
  }

  private mark(pattern: AstNode | null | undefined): boolean {
    let changed = false;
    for (const name of patternNames(pattern)) {
      if (!this.computed.has(name)) {
        this.computed.add(name);
        changed = true;
      }
    }
    return changed;
  }

  /** One pass over `node`: names that receive a carrying value are marked; true when any was new. */
  propagate(node: AstNode): boolean {
    let changed = false;
    switch (node.type) {
      case "VariableDeclarator":
        if (this.carries(node.init as AstNode)) changed = this.mark(node.id as AstNode);
        break;
      case "AssignmentExpression":
        if (this.carries(node.right as AstNode)) changed = this.mark(node.left as AstNode);
        break;
      case "ForOfStatement": {
        const left = node.left as AstNode;
        if (this.carries(node.right as AstNode)) changed = this.mark(left.type === "VariableDeclaration" ? ((left.declarations as AstNode[])[0]!.id as AstNode) : left);
        break;
      }
      case "CallExpression": {
        // results.push(x), parts.unshift(x), ... : the receiver now holds what was passed in.
        const callee = node.callee as AstNode;
        if (callee.type === "MemberExpression" && (node.arguments as AstNode[]).some((a) => this.carries(a))) changed = this.mark(callee.object as AstNode);
        break;
      }
      case "CatchClause": // an operator's failure message
        changed = this.mark(node.param as AstNode | null);
        break;
    }
    for (const child of children(node)) changed = this.propagate(child) || changed;
    return changed;
  }
}

/** The first `return` of the workflow whose value carries no operator result, or null when all do. */
export function firstUncomputedReturn(body: AstNode): AstNode | null {
  const flow = new DataFlow();
  while (flow.propagate(body)) {
    // until no name changes
  }
  return ownReturns(body).find((r) => !flow.carries(r.argument as AstNode)) ?? null;
}
