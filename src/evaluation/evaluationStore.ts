// Evaluation results (solve rates on a benchmark's test split) kept in a run's own database, beside
// what training stored. The pipeline's run store has no table for them, so this module owns one:
// `evaluations`, created when missing. One row per (method, benchmark, split, problems, protocol): a
// later evaluation of the same thing replaces the earlier one. The row holds the solve rate of every
// run as well as their mean and standard deviation, so `table` prints exactly what `eval` printed.
// A generator's workflows for the test problems are kept too (`evaluation_workflows`): a second
// evaluation reuses them instead of sampling again, and the report can show them.
import type Database from "better-sqlite3";
import { openRunDatabase } from "../pipeline/runStore.js";
import type { ScoringProtocol } from "../workflow/scoringProtocols.js";

/** The executor's response cache of a run's evaluations, in the run directory. */
export const EVALUATION_CACHE = "eval-cache.sqlite";

/** The generator methods are named after the adapter iteration they sample from (0 = the base model). */
export function generatorMethod(iteration: number): string {
  return `generator@${iteration}`;
}

/** The adapter iteration of a generator method, or null for a baseline. */
export function generatorIteration(method: string): number | null {
  const match = /^generator@(\d+)$/.exec(method);
  return match ? Number(match[1]) : null;
}

export interface EvaluationRecord {
  /** A baseline name (io, cot, ...) or generatorMethod(k). */
  method: string;
  benchmark: string;
  split: string;
  /** Problems evaluated (the whole split, or the first K with --limit). */
  problems: number;
  protocol: ScoringProtocol;
  /** The protocol in words, as printed beside the number. */
  protocolDescription: string;
  /** Solve rate of each run in [0, 1]: the mean over problems of that run's scores. */
  runSolveRates: number[];
  /** Mean of runSolveRates. */
  solveRate: number;
  /** Sample standard deviation of runSolveRates (0 for a single run). */
  std: number;
  /** Executor model and URL (never credentials). */
  executor: string;
  evaluatedAt: string;
}

/** Mean and sample standard deviation of per-run solve rates. */
export function summarizeRuns(runSolveRates: readonly number[]): { solveRate: number; std: number } {
  if (runSolveRates.length === 0) throw new Error("an evaluation needs at least one run");
  const mean = runSolveRates.reduce((a, b) => a + b, 0) / runSolveRates.length;
  if (runSolveRates.length === 1) return { solveRate: mean, std: 0 };
  const squares = runSolveRates.reduce((s, x) => s + (x - mean) ** 2, 0);
  return { solveRate: mean, std: Math.sqrt(squares / (runSolveRates.length - 1)) };
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS evaluations (
    method TEXT NOT NULL, benchmark TEXT NOT NULL, split TEXT NOT NULL, problems INTEGER NOT NULL, protocol TEXT NOT NULL,
    protocol_description TEXT NOT NULL, run_solve_rates TEXT NOT NULL, solve_rate REAL NOT NULL, std REAL NOT NULL,
    executor TEXT NOT NULL, evaluated_at TEXT NOT NULL,
    PRIMARY KEY (method, benchmark, split, problems, protocol));
  CREATE TABLE IF NOT EXISTS evaluation_workflows (
    method TEXT NOT NULL, benchmark TEXT NOT NULL, split TEXT NOT NULL, problem_id TEXT NOT NULL,
    workflow TEXT, invalid_reason TEXT, attempts INTEGER NOT NULL,
    PRIMARY KEY (method, benchmark, split, problem_id));
`;

interface EvaluationRow {
  method: string; benchmark: string; split: string; problems: number; protocol: string; protocol_description: string;
  run_solve_rates: string; solve_rate: number; std: number; executor: string; evaluated_at: string;
}

/** Stores (or replaces) one evaluation in run directory `dir`. */
export function putEvaluation(dir: string, record: EvaluationRecord): void {
  const db = openRunDatabase(dir);
  try {
    db.exec(SCHEMA);
    db.prepare(`INSERT OR REPLACE INTO evaluations (method, benchmark, split, problems, protocol, protocol_description, run_solve_rates, solve_rate, std, executor, evaluated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
      record.method, record.benchmark, record.split, record.problems, record.protocol, record.protocolDescription,
      JSON.stringify(record.runSolveRates), record.solveRate, record.std, record.executor, record.evaluatedAt,
    );
  } finally {
    db.close();
  }
}

export interface StoredWorkflow {
  problemId: string;
  workflow: string | null;
  invalidReason: string | null;
  attempts: number;
}

/** Stores a generator's workflows for test problems (one per problem), replacing earlier ones. */
export function putEvaluationWorkflows(dir: string, key: { method: string; benchmark: string; split: string }, workflows: readonly StoredWorkflow[]): void {
  const db = openRunDatabase(dir);
  try {
    db.exec(SCHEMA);
    const insert = db.prepare(`INSERT OR REPLACE INTO evaluation_workflows (method, benchmark, split, problem_id, workflow, invalid_reason, attempts) VALUES (?, ?, ?, ?, ?, ?, ?)`);
    db.transaction(() => {
      for (const w of workflows) insert.run(key.method, key.benchmark, key.split, w.problemId, w.workflow, w.invalidReason, w.attempts);
    })();
  } finally {
    db.close();
  }
}

/** The stored workflows of a generator method on a benchmark split, keyed by problem id. */
export function readEvaluationWorkflows(dir: string, key: { method: string; benchmark: string; split: string }): Map<string, StoredWorkflow> {
  const db = openRunDatabase(dir);
  try {
    db.exec(SCHEMA);
    const rows = db.prepare("SELECT problem_id, workflow, invalid_reason, attempts FROM evaluation_workflows WHERE method = ? AND benchmark = ? AND split = ?")
      .all(key.method, key.benchmark, key.split) as Array<{ problem_id: string; workflow: string | null; invalid_reason: string | null; attempts: number }>;
    return new Map(rows.map((r) => [r.problem_id, { problemId: r.problem_id, workflow: r.workflow, invalidReason: r.invalid_reason, attempts: r.attempts }]));
  } finally {
    db.close();
  }
}

/** Every evaluation stored in run directory `dir` (none when the table does not exist yet). */
export function readEvaluations(dir: string): EvaluationRecord[] {
  const db = openRunDatabase(dir);
  try {
    return evaluationsIn(db);
  } finally {
    db.close();
  }
}

/** Evaluations from an open run database, ordered by benchmark, then method. */
export function evaluationsIn(db: Database.Database): EvaluationRecord[] {
  const table = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'evaluations'").get();
  if (!table) return [];
  const rows = db.prepare("SELECT * FROM evaluations ORDER BY benchmark, method, split, problems, protocol").all() as EvaluationRow[];
  return rows.map((r) => ({
    method: r.method, benchmark: r.benchmark, split: r.split, problems: r.problems, protocol: r.protocol as ScoringProtocol,
    protocolDescription: r.protocol_description, runSolveRates: JSON.parse(r.run_solve_rates) as number[], solveRate: r.solve_rate,
    std: r.std, executor: r.executor, evaluatedAt: r.evaluated_at,
  }));
}
