// The persistent response cache: persistence across instances, several writer processes at once and a
// writer killed mid-run.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { ResponseCache } from "../../src/index.js";
import { exitOf, spawnTypeScript } from "../helpers/cli.js";

const dir = await mkdtemp(join(tmpdir(), "spogw-cache-"));
afterAll(() => rm(dir, { recursive: true, force: true }));

function runWriter(path: string, prefix: string, count: number): { done: Promise<number | null>; kill: () => void } {
  const child = spawnTypeScript("test/helpers/cacheWriterProcess.ts", [path, prefix, String(count)]);
  return {
    done: exitOf(child).then(({ code, stderr }) => {
      if (code && code !== 0) throw new Error(`writer exited ${code}: ${stderr}`);
      return code;
    }),
    kill: () => child.kill("SIGKILL"),
  };
}

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
