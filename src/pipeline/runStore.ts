// The run store: one SQLite database per run directory (run.sqlite) beside the adapter files. Every
// phase writes its results as it goes, keyed by (iteration, query, sample, run), so a rerun after a
// crash skips what is done and repeats only what was in flight. A phase's "done" row is written in the
// same transaction as its last results; files (adapters, checkpoints) are written atomically first and
// recorded in the database afterwards, so the database never names a file that is not complete.
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";

export const RUN_DATABASE = "run.sqlite";
const SCHEMA_VERSION = "1";

export type Phase = "collect" | "dataset" | "update";

/**
 * Opens the database of an existing run directory as it is (nothing created, nothing migrated), for
 * readers and for the evaluation tables; errors name the directory when it is not a run.
 */
export function openRunDatabase(dir: string): Database.Database {
  const file = join(dir, RUN_DATABASE);
  if (!existsSync(dir)) throw new Error(`run directory ${dir} does not exist`);
  if (!existsSync(file)) throw new Error(`${dir} is not a run directory (no ${RUN_DATABASE})`);
  try {
    const db = new Database(file);
    db.pragma("busy_timeout = 10000");
    // Reading one row checks that the file really is an SQLite database.
    db.prepare("SELECT name FROM sqlite_master LIMIT 1").all();
    return db;
  } catch (error) {
    throw new Error(`${file} cannot be read as a run database: ${(error as Error).message}`);
  }
}

/**
 * Meta value `key` of existing run `dir`, read without changing the file; undefined when it is not
 * stored, also when the store's tables were never created (a run killed while it created them).
 */
export function readRunMeta(dir: string, key: string): string | undefined {
  const db = openRunDatabase(dir);
  try {
    const meta = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get();
    if (!meta) return undefined;
    return (db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined)?.value;
  } finally {
    db.close();
  }
}

export interface SampleRecord {
  iteration: number;
  queryId: string;
  sampleIndex: number;
  /** Generation attempts used for this slot (1 + regenerations of invalid workflows). */
  attempts: number;
  /** Seed of the attempt that was kept. */
  seed: number;
  promptTokens: Int32Array;
  completionTokens: Int32Array;
  text: string;
  /** The parsed workflow, or null when every attempt was invalid (it then scores 0 without running). */
  workflow: string | null;
  invalidReason: string | null;
}

/**
 * The token ids the engine scores for a sample: its prompt, then its completion (the response starts
 * at promptTokens.length).
 */
export function sampleTokens(sample: Pick<SampleRecord, "promptTokens" | "completionTokens">): Int32Array {
  const tokens = new Int32Array(sample.promptTokens.length + sample.completionTokens.length);
  tokens.set(sample.promptTokens);
  tokens.set(sample.completionTokens, sample.promptTokens.length);
  return tokens;
}

export interface ExecutionRecord {
  iteration: number;
  queryId: string;
  sampleIndex: number;
  run: number;
  /** In [0, 1]. */
  score: number;
  error: string | null;
}

export interface GroupRecord {
  iteration: number;
  groupIndex: number;
  queryId: string;
  /** Sample indices, by score ascending, after sharpening. */
  members: number[];
  /** Mean execution score of each member. */
  scores: number[];
  /** Group-relative advantages (float64; stored as JSON numbers, which round-trip doubles exactly). */
  advantages: number[];
  /** Population variance of the group's n scores before sharpening. */
  variance: number;
}

export interface UpdateStepRecord {
  iteration: number;
  step: number;
  epoch: number;
  loss: number;
  gradNorm: number;
  stats: Record<string, number>;
  /** Adapter + optimizer state after this step, relative to the run directory. */
  checkpoint: string;
}

export interface AdapterRecord {
  /** The iteration whose samples this adapter generates (the update of iteration k writes adapter k + 1). */
  iteration: number;
  /** GGUF LoRA adapter, relative to the run directory. */
  gguf: string;
  /** PEFT directory, relative to the run directory. */
  peft: string;
}

export class RunStore {
  private constructor(
    readonly dir: string,
    private readonly db: Database.Database,
  ) {}

  /** Opens (creating when needed) the store of run directory `dir`. */
  static open(dir: string): RunStore {
    mkdirSync(dir, { recursive: true });
    const db = new Database(join(dir, RUN_DATABASE));
    // WAL with synchronous=NORMAL: a killed process never loses a committed transaction nor corrupts the
    // file (only a power cut can drop the last few commits, and those are redone on the rerun).
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.pragma("busy_timeout = 10000");
    const store = new RunStore(dir, db);
    store.migrate();
    return store;
  }

  private migrate(): void {
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS queries (position INTEGER PRIMARY KEY, query_id TEXT NOT NULL UNIQUE);
      CREATE TABLE IF NOT EXISTS samples (
        iteration INTEGER NOT NULL, query_id TEXT NOT NULL, sample_index INTEGER NOT NULL,
        attempts INTEGER NOT NULL, seed INTEGER NOT NULL, prompt_tokens BLOB NOT NULL, completion_tokens BLOB NOT NULL,
        text TEXT NOT NULL, workflow TEXT, invalid_reason TEXT,
        PRIMARY KEY (iteration, query_id, sample_index));
      CREATE TABLE IF NOT EXISTS executions (
        iteration INTEGER NOT NULL, query_id TEXT NOT NULL, sample_index INTEGER NOT NULL, run INTEGER NOT NULL,
        score REAL NOT NULL, error TEXT,
        PRIMARY KEY (iteration, query_id, sample_index, run));
      CREATE TABLE IF NOT EXISTS groups (
        iteration INTEGER NOT NULL, group_index INTEGER NOT NULL, query_id TEXT NOT NULL,
        members TEXT NOT NULL, scores TEXT NOT NULL, advantages TEXT NOT NULL, variance REAL NOT NULL,
        PRIMARY KEY (iteration, group_index));
      CREATE TABLE IF NOT EXISTS logprobs (
        iteration INTEGER NOT NULL, query_id TEXT NOT NULL, sample_index INTEGER NOT NULL,
        policy BLOB NOT NULL, reference BLOB,
        PRIMARY KEY (iteration, query_id, sample_index));
      CREATE TABLE IF NOT EXISTS update_steps (
        iteration INTEGER NOT NULL, step INTEGER NOT NULL, epoch INTEGER NOT NULL,
        loss REAL NOT NULL, grad_norm REAL NOT NULL, stats TEXT NOT NULL, checkpoint TEXT NOT NULL,
        PRIMARY KEY (iteration, step));
      CREATE TABLE IF NOT EXISTS adapters (iteration INTEGER PRIMARY KEY, gguf TEXT NOT NULL, peft TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS phases (
        iteration INTEGER NOT NULL, phase TEXT NOT NULL, summary TEXT NOT NULL, finished_at TEXT NOT NULL,
        PRIMARY KEY (iteration, phase));
    `);
    const version = this.getMeta("schema");
    if (version === undefined) this.setMeta("schema", SCHEMA_VERSION);
    else if (version !== SCHEMA_VERSION) throw new Error(`${join(this.dir, RUN_DATABASE)}: run store schema ${version}, this version reads ${SCHEMA_VERSION}`);
  }

  close(): void {
    this.db.close();
  }

  getMeta(key: string): string | undefined {
    return (this.db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined)?.value;
  }

  setMeta(key: string, value: string): void {
    this.db.prepare("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(key, value);
  }

  /** The training queries in order; set once when the run starts. */
  queryIds(): string[] {
    return (this.db.prepare("SELECT query_id FROM queries ORDER BY position").all() as Array<{ query_id: string }>).map((r) => r.query_id);
  }

  setQueryIds(ids: readonly string[]): void {
    const insert = this.db.prepare("INSERT INTO queries (position, query_id) VALUES (?, ?)");
    this.db.transaction(() => {
      this.db.prepare("DELETE FROM queries").run();
      ids.forEach((id, i) => insert.run(i, id));
    })();
  }

  /** Query ids whose samples of this iteration are all stored. */
  queriesWithSamples(iteration: number): Set<string> {
    const rows = this.db.prepare("SELECT DISTINCT query_id FROM samples WHERE iteration = ?").all(iteration) as Array<{ query_id: string }>;
    return new Set(rows.map((r) => r.query_id));
  }

  /** Stores all samples of one query at once, so a query is either complete or absent. */
  putQuerySamples(samples: readonly SampleRecord[]): void {
    const insert = this.db.prepare(`INSERT INTO samples (iteration, query_id, sample_index, attempts, seed, prompt_tokens, completion_tokens, text, workflow, invalid_reason)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.db.transaction(() => {
      for (const s of samples) {
        insert.run(s.iteration, s.queryId, s.sampleIndex, s.attempts, s.seed, int32Blob(s.promptTokens), int32Blob(s.completionTokens), s.text, s.workflow, s.invalidReason);
      }
    })();
  }

  samples(iteration: number): SampleRecord[] {
    const rows = this.db
      .prepare(`SELECT s.* FROM samples s JOIN queries q ON q.query_id = s.query_id WHERE iteration = ? ORDER BY q.position, sample_index`)
      .all(iteration) as SampleRow[];
    return rows.map((r) => ({
      iteration: r.iteration, queryId: r.query_id, sampleIndex: r.sample_index, attempts: r.attempts, seed: r.seed,
      promptTokens: blobInt32(r.prompt_tokens), completionTokens: blobInt32(r.completion_tokens), text: r.text,
      workflow: r.workflow, invalidReason: r.invalid_reason,
    }));
  }

  putExecution(e: ExecutionRecord): void {
    this.db.prepare("INSERT INTO executions (iteration, query_id, sample_index, run, score, error) VALUES (?, ?, ?, ?, ?, ?)")
      .run(e.iteration, e.queryId, e.sampleIndex, e.run, e.score, e.error);
  }

  executions(iteration: number): ExecutionRecord[] {
    const rows = this.db
      .prepare(`SELECT e.* FROM executions e JOIN queries q ON q.query_id = e.query_id WHERE iteration = ? ORDER BY q.position, sample_index, run`)
      .all(iteration) as Array<{ iteration: number; query_id: string; sample_index: number; run: number; score: number; error: string | null }>;
    return rows.map((r) => ({ iteration: r.iteration, queryId: r.query_id, sampleIndex: r.sample_index, run: r.run, score: r.score, error: r.error }));
  }

  /** Writes the iteration's groups and marks the dataset phase done, in one transaction. */
  putGroups(iteration: number, groups: readonly Omit<GroupRecord, "iteration">[], summary: object): void {
    const insert = this.db.prepare("INSERT INTO groups (iteration, group_index, query_id, members, scores, advantages, variance) VALUES (?, ?, ?, ?, ?, ?, ?)");
    this.db.transaction(() => {
      this.db.prepare("DELETE FROM groups WHERE iteration = ?").run(iteration);
      for (const g of groups) insert.run(iteration, g.groupIndex, g.queryId, JSON.stringify(g.members), JSON.stringify(g.scores), JSON.stringify(g.advantages), g.variance);
      this.markPhaseDone(iteration, "dataset", summary);
    })();
  }

  groups(iteration: number): GroupRecord[] {
    const rows = this.db.prepare("SELECT * FROM groups WHERE iteration = ? ORDER BY group_index").all(iteration) as Array<{
      iteration: number; group_index: number; query_id: string; members: string; scores: string; advantages: string; variance: number;
    }>;
    return rows.map((r) => ({
      iteration: r.iteration, groupIndex: r.group_index, queryId: r.query_id, members: JSON.parse(r.members) as number[],
      scores: JSON.parse(r.scores) as number[], advantages: JSON.parse(r.advantages) as number[], variance: r.variance,
    }));
  }

  putLogprobs(iteration: number, queryId: string, sampleIndex: number, policy: Float32Array, reference: Float32Array | null): void {
    this.db.prepare("INSERT INTO logprobs (iteration, query_id, sample_index, policy, reference) VALUES (?, ?, ?, ?, ?)")
      .run(iteration, queryId, sampleIndex, float32Blob(policy), reference ? float32Blob(reference) : null);
  }

  /** Stored log-probs of this iteration, keyed "queryId\tsampleIndex". */
  logprobs(iteration: number): Map<string, { policy: Float32Array; reference: Float32Array | null }> {
    const rows = this.db.prepare("SELECT query_id, sample_index, policy, reference FROM logprobs WHERE iteration = ?").all(iteration) as Array<{
      query_id: string; sample_index: number; policy: Buffer; reference: Buffer | null;
    }>;
    return new Map(rows.map((r) => [sampleKey(r.query_id, r.sample_index), { policy: blobFloat32(r.policy), reference: r.reference ? blobFloat32(r.reference) : null }]));
  }

  putUpdateStep(s: UpdateStepRecord): void {
    this.db.prepare("INSERT INTO update_steps (iteration, step, epoch, loss, grad_norm, stats, checkpoint) VALUES (?, ?, ?, ?, ?, ?, ?)")
      .run(s.iteration, s.step, s.epoch, s.loss, s.gradNorm, JSON.stringify(s.stats), s.checkpoint);
  }

  updateSteps(iteration: number): UpdateStepRecord[] {
    const rows = this.db.prepare("SELECT * FROM update_steps WHERE iteration = ? ORDER BY step").all(iteration) as Array<{
      iteration: number; step: number; epoch: number; loss: number; grad_norm: number; stats: string; checkpoint: string;
    }>;
    return rows.map((r) => ({ iteration: r.iteration, step: r.step, epoch: r.epoch, loss: r.loss, gradNorm: r.grad_norm, stats: JSON.parse(r.stats) as Record<string, number>, checkpoint: r.checkpoint }));
  }

  /** Records the adapter an update produced and marks that update done, in one transaction. */
  putAdapter(updateIteration: number, adapter: AdapterRecord, summary: object): void {
    this.db.transaction(() => {
      this.db.prepare("INSERT INTO adapters (iteration, gguf, peft) VALUES (?, ?, ?)").run(adapter.iteration, adapter.gguf, adapter.peft);
      this.markPhaseDone(updateIteration, "update", summary);
    })();
  }

  adapter(iteration: number): AdapterRecord | undefined {
    return this.db.prepare("SELECT iteration, gguf, peft FROM adapters WHERE iteration = ?").get(iteration) as AdapterRecord | undefined;
  }

  /**
   * The GGUF adapter that samples iteration `iteration` (a path under the run directory), or null for
   * iteration 0: the base model. Throws naming the adapters stored when it does not exist yet.
   */
  adapterPath(iteration: number): string | null {
    if (iteration === 0) return null;
    const record = this.adapter(iteration);
    if (!record) {
      const have = this.adapters().map((a) => a.iteration);
      throw new Error(`${this.dir} has no adapter ${iteration} (adapters stored: ${have.length ? have.join(", ") : "none"}; 0 = the base model); the update of iteration ${iteration - 1} writes it`);
    }
    return join(this.dir, record.gguf);
  }

  adapters(): AdapterRecord[] {
    return this.db.prepare("SELECT iteration, gguf, peft FROM adapters ORDER BY iteration").all() as AdapterRecord[];
  }

  markPhaseDone(iteration: number, phase: Phase, summary: object): void {
    this.db.prepare("INSERT INTO phases (iteration, phase, summary, finished_at) VALUES (?, ?, ?, ?)").run(iteration, phase, JSON.stringify(summary), new Date().toISOString());
  }

  /** The first iteration whose `phase` is not done. */
  nextIteration(phase: Phase): number {
    let iteration = 0;
    while (this.phaseSummary(iteration, phase)) iteration++;
    return iteration;
  }

  /** The phase's summary when it is done, else undefined. */
  phaseSummary<T = Record<string, unknown>>(iteration: number, phase: Phase): T | undefined {
    const row = this.db.prepare("SELECT summary FROM phases WHERE iteration = ? AND phase = ?").get(iteration, phase) as { summary: string } | undefined;
    return row ? (JSON.parse(row.summary) as T) : undefined;
  }

  /** Row counts per iteration and table, for `status`. */
  counts(): Array<{ iteration: number; samples: number; executions: number; groups: number; logprobs: number; updateSteps: number; phasesDone: Phase[] }> {
    const iterations = new Set<number>();
    const count = (table: string) => {
      const rows = this.db.prepare(`SELECT iteration, COUNT(*) AS n FROM ${table} GROUP BY iteration`).all() as Array<{ iteration: number; n: number }>;
      const map = new Map(rows.map((r) => [r.iteration, r.n]));
      for (const k of map.keys()) iterations.add(k);
      return map;
    };
    const samples = count("samples");
    const executions = count("executions");
    const groups = count("groups");
    const logprobs = count("logprobs");
    const steps = count("update_steps");
    const phases = this.db.prepare("SELECT iteration, phase FROM phases ORDER BY finished_at").all() as Array<{ iteration: number; phase: Phase }>;
    for (const p of phases) iterations.add(p.iteration);
    return [...iterations].sort((a, b) => a - b).map((iteration) => ({
      iteration,
      samples: samples.get(iteration) ?? 0,
      executions: executions.get(iteration) ?? 0,
      groups: groups.get(iteration) ?? 0,
      logprobs: logprobs.get(iteration) ?? 0,
      updateSteps: steps.get(iteration) ?? 0,
      phasesDone: phases.filter((p) => p.iteration === iteration).map((p) => p.phase),
    }));
  }
}

export function sampleKey(queryId: string, sampleIndex: number): string {
  return `${queryId}\t${sampleIndex}`;
}

interface SampleRow {
  iteration: number; query_id: string; sample_index: number; attempts: number; seed: number;
  prompt_tokens: Buffer; completion_tokens: Buffer; text: string; workflow: string | null; invalid_reason: string | null;
}

// Typed arrays are stored as their little-endian bytes (the byte order of every machine Node runs on here).
function int32Blob(values: Int32Array): Buffer {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
}
function float32Blob(values: Float32Array): Buffer {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
}
function blobInt32(blob: Buffer): Int32Array {
  const copy = new Uint8Array(blob); // aligned copy
  return new Int32Array(copy.buffer, 0, copy.byteLength / 4);
}
function blobFloat32(blob: Buffer): Float32Array {
  const copy = new Uint8Array(blob);
  return new Float32Array(copy.buffer, 0, copy.byteLength / 4);
}
