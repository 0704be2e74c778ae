// Walking acorn's ESTree nodes generically: the validator's checks look at every node of a workflow.
import type { Node } from "acorn";

export type AstNode = Node & Record<string, unknown>;

export function isNode(value: unknown): value is AstNode {
  return typeof value === "object" && value !== null && typeof (value as { type?: unknown }).type === "string";
}

/** The node's child nodes, in source order of its fields. */
export function children(node: AstNode): AstNode[] {
  const out: AstNode[] = [];
  for (const [key, value] of Object.entries(node)) {
    if (key === "loc") continue;
    if (Array.isArray(value)) for (const v of value) { if (isNode(v)) out.push(v); }
    else if (isNode(value)) out.push(value);
  }
  return out;
}

/** Identifiers a pattern binds or assigns (the root name of `a.b.c = ...` too). */
export function patternNames(pattern: AstNode | null | undefined): string[] {
  if (!pattern) return [];
  switch (pattern.type) {
    case "Identifier": return [pattern.name as string];
    case "MemberExpression": return patternNames(pattern.object as AstNode);
    case "ObjectPattern": return (pattern.properties as AstNode[]).flatMap((p) => patternNames((p.type === "RestElement" ? p.argument : p.value) as AstNode));
    case "ArrayPattern": return (pattern.elements as Array<AstNode | null>).flatMap((e) => patternNames(e));
    case "RestElement": return patternNames(pattern.argument as AstNode);
    case "AssignmentPattern": return patternNames(pattern.left as AstNode);
    default: return [];
  }
}
