// The caching executor: the cache key covers everything that changes an answer; a hit makes no model
// call, also after a restart; identical requests in flight share one call, which is cancelled only
// when every caller has given up; failures are not cached.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CachingExecutor, requestCacheKey, ResponseCache } from "../../src/index.js";
import { ScriptedExecutor } from "../helpers/scriptedExecutor.js";

const dir = await mkdtemp(join(tmpdir(), "spogw-caching-"));
afterAll(() => rm(dir, { recursive: true, force: true }));

const request = { messages: [{ role: "user" as const, content: "What is 2+2?" }] };

describe("requestCacheKey", () => {
  it("depends on model, messages and every sampling parameter; absent temperature = the default", () => {
    const base = requestCacheKey("m", request, 0);
    expect(requestCacheKey("m", { ...request, temperature: 0 }, 0)).toBe(base);
    const variants = [
      requestCacheKey("other", request, 0),
      requestCacheKey("m", { messages: [{ role: "user", content: "What is 2+3?" }] }, 0),
      requestCacheKey("m", { messages: [{ role: "system", content: "What is 2+2?" }] }, 0),
      requestCacheKey("m", { ...request, temperature: 0.7 }, 0),
      requestCacheKey("m", { ...request, seed: 1 }, 0),
      requestCacheKey("m", { ...request, maxTokens: 5 }, 0),
      requestCacheKey("m", { ...request, stop: ["\n"] }, 0),
    ];
    expect(new Set([base, ...variants]).size).toBe(variants.length + 1);
  });
});

describe("CachingExecutor", () => {
  it("answers a repeated request from the cache, also after a restart, and shares identical requests in flight", async () => {
    const path = join(dir, "executor.sqlite");
    const inner = new ScriptedExecutor({ delayMs: 50, answer: (p) => `echo ${p}` });
    const cache = new ResponseCache(path);
    const executor = new CachingExecutor(inner, cache);
    const [a, b] = await Promise.all([executor.complete(request), executor.complete({ ...request, temperature: 0 })]);
    expect(inner.requests).toHaveLength(1);
    expect(a).toMatchObject({ text: "echo What is 2+2?", cached: false });
    expect(b).toMatchObject({ text: "echo What is 2+2?", cached: true });
    await executor.complete({ ...request, seed: 2 });
    expect(inner.requests).toHaveLength(2);
    cache.close();

    const reopened = new ResponseCache(path);
    const fresh = new ScriptedExecutor({ answer: () => "should not be called" });
    const again = new CachingExecutor(fresh, reopened);
    expect(await again.complete(request)).toMatchObject({ text: "echo What is 2+2?", cached: true });
    expect(fresh.requests).toHaveLength(0);
    expect(again.stats()).toMatchObject({ calls: 0, cacheHits: 1 });
    reopened.close();
  });

  it("lets one caller of a shared request give up without failing the others; the call is cancelled only when all have", async () => {
    const cache = new ResponseCache(join(dir, "shared-abort.sqlite"));
    const inner = new ScriptedExecutor({ delayMs: 300, answer: () => "slow answer" });
    const executor = new CachingExecutor(inner, cache);
    const first = new AbortController();
    const a = executor.complete(request, { signal: first.signal });
    const b = executor.complete(request, { signal: new AbortController().signal });
    setTimeout(() => first.abort(), 50);
    await expect(a).rejects.toMatchObject({ reason: "aborted" });
    await expect(b).resolves.toMatchObject({ text: "slow answer", cached: true });
    expect(inner.requests).toHaveLength(1);

    const other = { messages: [{ role: "user" as const, content: "Another question" }] };
    const c1 = new AbortController();
    const c2 = new AbortController();
    const both = [executor.complete(other, { signal: c1.signal }), executor.complete(other, { signal: c2.signal })];
    setTimeout(() => { c1.abort(); c2.abort(); }, 50);
    for (const p of both) await expect(p).rejects.toMatchObject({ reason: "aborted" });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(inner.inFlight).toBe(0); // the shared call itself was cancelled
    expect(cache.get(requestCacheKey("scripted", other, 0))).toBeUndefined();
    cache.close();
  });

  it("does not cache failures", async () => {
    const cache = new ResponseCache(join(dir, "failures.sqlite"));
    let fail = true;
    const inner = new ScriptedExecutor({ answer: () => { if (fail) throw new Error("503"); return "ok"; } });
    const executor = new CachingExecutor(inner, cache);
    await expect(executor.complete(request)).rejects.toThrow("503");
    fail = false;
    await expect(executor.complete(request)).resolves.toMatchObject({ text: "ok", cached: false });
    cache.close();
  });
});
