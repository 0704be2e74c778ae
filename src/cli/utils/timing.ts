// Timing helpers for benchmark commands: warm up once, then take the median of several runs.

export interface Timing {
  medianMs: number;
  minMs: number;
  runs: number;
}

/** Runs `fn` once to warm up, then `runs` times (or until `maxMs` of measuring); returns the median. */
export async function timeAsync(fn: () => Promise<unknown>, runs = 5, maxMs = 20_000): Promise<Timing> {
  await fn();
  const samples: number[] = [];
  const started = performance.now();
  while (samples.length < runs) {
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
    if (performance.now() - started > maxMs) break;
  }
  samples.sort((a, b) => a - b);
  return { medianMs: samples[Math.floor(samples.length / 2)] ?? NaN, minMs: samples[0] ?? NaN, runs: samples.length };
}

/** Renders rows as an aligned plain-text table (first row is the header). */
export function formatTable(rows: string[][]): string {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length))) ?? [];
  const line = (r: string[]) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join("  ");
  const [header, ...body] = rows;
  return [line(header ?? []), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}
