// Reads everything a run has produced (every table, every adapter file's hash) into one comparable
// value, for tests that check two runs end in the same state.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import Database from "better-sqlite3";

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

export function runState(dir: string): Record<string, unknown> {
  const db = new Database(join(dir, "run.sqlite"), { readonly: true });
  try {
    const all = (sql: string) => db.prepare(sql).all();
    const hex = (rows: unknown[]) => rows.map((r) => Object.fromEntries(Object.entries(r as object).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString("hex") : v])));
    return {
      queries: all("SELECT * FROM queries ORDER BY position"),
      samples: hex(all("SELECT * FROM samples ORDER BY iteration, query_id, sample_index")),
      executions: all("SELECT * FROM executions ORDER BY iteration, query_id, sample_index, run"),
      groups: all("SELECT * FROM groups ORDER BY iteration, group_index"),
      logprobs: hex(all("SELECT * FROM logprobs ORDER BY iteration, query_id, sample_index")),
      updateSteps: all("SELECT iteration, step, epoch, loss, grad_norm, stats FROM update_steps ORDER BY iteration, step"),
      adapters: all("SELECT * FROM adapters ORDER BY iteration"),
      phases: all("SELECT iteration, phase, summary FROM phases ORDER BY iteration, phase"),
      // Every file the run keeps (the run database and the demo model aside), by content hash.
      files: Object.fromEntries(
        filesUnder(dir)
          .filter((p) => !/run\.sqlite/.test(p) && !p.endsWith(".gguf.partial"))
          .map((p) => [relative(dir, p), createHash("sha256").update(readFileSync(p)).digest("hex")])
          .sort(([a], [b]) => (a! < b! ? -1 : 1)),
      ),
    };
  } finally {
    db.close();
  }
}
