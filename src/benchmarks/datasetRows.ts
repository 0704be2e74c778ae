// Reading dataset files as JSON rows, with errors that name file, line and field. Dataset rows are
// untrusted input: nothing here assumes a field exists or has the right type.
import { readFile } from "node:fs/promises";
import { gunzipSync } from "node:zlib";

/** A problem with a data file, pinned to the place to fix. */
export class DatasetError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | null,
    readonly field: string | null,
    problem: string,
  ) {
    super(`${file}${line !== null ? `:${line}` : ""}${field !== null ? `: field "${field}"` : ""}: ${problem}`);
    this.name = "DatasetError";
  }
}

/** One parsed row and where it is. */
export interface Row {
  file: string;
  line: number;
  value: Record<string, unknown>;
}

/** Reads a JSONL file (gzip when the name ends in .gz); blank lines are skipped, every other line must be a JSON object. */
export async function readJsonlRows(file: string): Promise<Row[]> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new DatasetError(file, null, null, code === "ENOENT" ? "file not found" : `cannot read (${(error as Error).message})`);
  }
  let text: string;
  try {
    text = (file.endsWith(".gz") ? gunzipSync(bytes) : bytes).toString("utf8");
  } catch (error) {
    throw new DatasetError(file, null, null, `not a valid gzip file (${(error as Error).message})`);
  }
  const rows: Row[] = [];
  text.split("\n").forEach((lineText, index) => {
    if (lineText.trim() === "") return;
    const line = index + 1;
    let value: unknown;
    try {
      value = JSON.parse(lineText);
    } catch (error) {
      throw new DatasetError(file, line, null, `not valid JSON (${(error as Error).message})`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new DatasetError(file, line, null, "not a JSON object");
    rows.push({ file, line, value: value as Record<string, unknown> });
  });
  return rows;
}

/** A non-empty string field. */
export function stringField(row: Row, field: string, options: { allowEmpty?: boolean } = {}): string {
  const v = row.value[field];
  if (v === undefined) throw new DatasetError(row.file, row.line, field, "missing");
  if (typeof v !== "string") throw new DatasetError(row.file, row.line, field, `expected a string, got ${describe(v)}`);
  if (!options.allowEmpty && v.trim() === "") throw new DatasetError(row.file, row.line, field, "empty");
  return v;
}

/** A field that may be a string or a whole number (ids); returned as text. */
export function idField(row: Row, field: string): string {
  const v = row.value[field];
  if (typeof v === "number" && Number.isInteger(v)) return String(v);
  return stringField(row, field);
}

/** An array of strings (possibly empty). */
export function stringArrayField(row: Row, field: string): string[] {
  const v = row.value[field];
  if (v === undefined) throw new DatasetError(row.file, row.line, field, "missing");
  if (!Array.isArray(v)) throw new DatasetError(row.file, row.line, field, `expected an array of strings, got ${describe(v)}`);
  v.forEach((item, i) => {
    if (typeof item !== "string") throw new DatasetError(row.file, row.line, `${field}[${i}]`, `expected a string, got ${describe(item)}`);
  });
  return v as string[];
}

/** A field that must be an array; its items are checked by the caller. */
export function arrayField(row: Row, field: string): unknown[] {
  const v = row.value[field];
  if (v === undefined) throw new DatasetError(row.file, row.line, field, "missing");
  if (!Array.isArray(v)) throw new DatasetError(row.file, row.line, field, `expected an array, got ${describe(v)}`);
  return v;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? "an object" : `${typeof v} ${JSON.stringify(v).slice(0, 40)}`;
}
