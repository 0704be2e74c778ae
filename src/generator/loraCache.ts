// node-llama-cpp caches LoRA adapters per model by absolute path and never frees them before the model
// is disposed, so a rewritten adapter file would silently keep its old weights. We drop an adapter
// from that cache once no context uses it. The cache is internal to node-llama-cpp (checked against
// 3.21.1); when it is not where we expect it, the caller reloads the model instead.
import { resolve } from "node:path";
import type { LlamaModel } from "node-llama-cpp";

interface DisposableAdapter {
  dispose?: () => unknown;
}

/** Frees the model's cached adapter for `adapterPath`. Returns false when the internal cache is not available. */
export async function evictCachedLoraAdapter(model: LlamaModel, adapterPath: string): Promise<boolean> {
  const cache = (model as unknown as { _loraAdapters?: unknown })._loraAdapters;
  if (!(cache instanceof Map)) return false;
  const key = resolve(process.cwd(), adapterPath);
  const adapter = cache.get(key) as DisposableAdapter | undefined;
  if (adapter === undefined) return true;
  if (typeof adapter.dispose !== "function") return false;
  await adapter.dispose();
  cache.delete(key);
  return true;
}
