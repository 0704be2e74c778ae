// A persistent cache of executor responses in one SQLite file (better-sqlite3). WAL journaling with
// a busy timeout lets several processes share the file; each entry is written in one statement, so a
// crash leaves either the whole entry or none of it.
import Database from "better-sqlite3";
import type { CompletionResult } from "./types.js";

export type CachedResponse = Omit<CompletionResult, "cached">;

const SCHEMA = `CREATE TABLE IF NOT EXISTS responses (
  key TEXT PRIMARY KEY,
  model TEXT NOT NULL,
  text TEXT NOT NULL,
  finish_reason TEXT NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  created_at TEXT NOT NULL
)`;

interface ResponseRow {
  model: string;
  text: string;
  finish_reason: string;
  prompt_tokens: number;
  completion_tokens: number;
}

export class ResponseCache {
  private readonly db: Database.Database;
  private readonly select: Database.Statement<[string], ResponseRow>;
  private readonly insert: Database.Statement<[string, string, string, string, number, number, string]>;

  constructor(readonly path: string) {
    this.db = new Database(path, { timeout: 10_000 }); // waits up to 10 s for another writer
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL"); // with WAL: never corrupt; a power cut may lose the last entries
    this.db.exec(SCHEMA);
    this.select = this.db.prepare("SELECT model, text, finish_reason, prompt_tokens, completion_tokens FROM responses WHERE key = ?");
    // The first answer stored for a key wins, so concurrent writers agree on what later reads return.
    this.insert = this.db.prepare("INSERT OR IGNORE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?)");
  }

  get(key: string): CachedResponse | undefined {
    const row = this.select.get(key);
    if (!row) return undefined;
    return {
      text: row.text,
      finishReason: row.finish_reason,
      model: row.model,
      usage: { promptTokens: row.prompt_tokens, completionTokens: row.completion_tokens },
    };
  }

  put(key: string, response: CachedResponse): void {
    const { usage } = response;
    this.insert.run(key, response.model, response.text, response.finishReason, usage.promptTokens, usage.completionTokens, new Date().toISOString());
  }

  get size(): number {
    return (this.db.prepare("SELECT COUNT(*) AS n FROM responses").get() as { n: number }).n;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
