// The persistent response cache: keys, persistence across processes, several writer processes at
// once, a writer killed mid-run, and the caching executor (no model call on a hit; identical
// requests in flight share one call).
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { CachingExecutor, requestCacheKey, ResponseCache } from "../../src/index.js";
import { ScriptedExecutor } from "../helpers/scriptedExecutor.js";

const dir = await mkdtemp(join(tmpdir(), "spogw-cache-"));
afterAll(() => rm(dir, { recursive: true, force: true }));

const request = { messages: [{ role: "user" as const, content: "What is 2+2?" }] };

function runWriter(path: string, prefix: string, count: number): { done: Promise<number | null>; kill: () => void } {
  const child = spawn(join(process.cwd(), "node_modules/.bin/vite-node"), ["test/helpers/cacheWriterProcess.ts", path, prefix, String(count)], { stdio: "pipe" });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  return {
    done: new Promise((resolve, reject) => {
      child.on("error", reject);
      child.on("exit", (code) => (code && code !== 0 ? reject(new Error(`writer exited ${code}: ${stderr}`)) : resolve(code)));
    }),
    kill: () => child.kill("SIGKILL"),
  };
}

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

describe("ResponseCache", () => {
  it("persists entries across instances, first write wins", () => {
    const path = join(dir, "persist.sqlite");
    const first = new ResponseCache(path);
    first.put("k", { text: "four", finishReason: "stop", model: "m", usage: { promptTokens: 3, completionTokens: 1 } });
    first.put("k", { text: "FIVE", finishReason: "stop", model: "m", usage: { promptTokens: 3, completionTokens: 1 } });
    first.close();
    const second = new ResponseCache(path);
    expect(second.get("k")).toEqual({ text: "four", finishReason: "stop", model: "m", usage: { promptTokens: 3, completionTokens: 1 } });
    expect(second.get("missing")).toBeUndefined();
    second.close();
  });

  it("takes writes from three processes at once, and survives a writer killed mid-run", async () => {
    const path = join(dir, "shared.sqlite");
    new ResponseCache(path).close(); // create the schema first, as the executor process would
    const writers = ["a", "b", "c"].map((prefix) => runWriter(path, prefix, 300));
    const victim = runWriter(path, "killed", 1_000_000);
    // Kill it once it is demonstrably writing.
    const watcher = new Database(path, { readonly: true, timeout: 10_000 });
    const killedCount = () => (watcher.prepare("SELECT COUNT(*) AS n FROM responses WHERE key LIKE 'killed-%'").get() as { n: number }).n;
    while (killedCount() < 50) await new Promise((resolve) => setTimeout(resolve, 50));
    victim.kill();
    watcher.close();
    await Promise.all([...writers.map((w) => w.done), victim.done.catch(() => null)]);
    const cache = new ResponseCache(path);
    for (const prefix of ["a", "b", "c"]) {
      for (const i of [0, 150, 299]) expect(cache.get(`${prefix}-${i}`)?.text).toBe(`${prefix} answer ${i} `.repeat(20));
    }
    const db = new Database(path, { readonly: true });
    expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
    const counted = db.prepare("SELECT COUNT(*) AS n FROM responses WHERE key LIKE 'a-%' OR key LIKE 'b-%' OR key LIKE 'c-%'").get() as { n: number };
    expect(counted.n).toBe(900);
    // Every entry the killed writer left is complete.
    const partial = db.prepare("SELECT key, text FROM responses WHERE key LIKE 'killed-%'").all() as Array<{ key: string; text: string }>;
    expect(partial.length).toBeGreaterThanOrEqual(50);
    expect(partial.length).toBeLessThan(1_000_000);
    for (const row of partial) expect(row.text).toBe(`killed answer ${row.key.slice(7)} `.repeat(20));
    db.close();
    cache.close();
  }, 120_000);
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
