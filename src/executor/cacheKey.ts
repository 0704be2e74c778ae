// The identity of a request for caching: the model plus every field that changes the answer, in a
// fixed order, hashed. Temperature is resolved to the executor's default first, so "absent" and "0"
// are the same request.
import { createHash } from "node:crypto";
import type { CompletionRequest } from "./types.js";

export function requestCacheKey(model: string, request: CompletionRequest, defaultTemperature: number): string {
  const canonical = JSON.stringify([
    model,
    request.messages.map((m) => [m.role, m.content]),
    request.temperature ?? defaultTemperature,
    request.maxTokens ?? null,
    request.stop ?? [],
    request.seed ?? null,
  ]);
  return createHash("sha256").update(canonical).digest("hex");
}
