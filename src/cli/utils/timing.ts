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

export interface Measured {
  /** best and median wall time over the runs, ms */
  minMs: number;
  medianMs: number;
  /** best CPU time (user + system, all threads of this process) over the runs, ms */
  minCpuMs: number;
  /** largest resident-set growth seen during any run, bytes */
  peakExtraBytes: number;
}

/** One timed call of `fn`, sampling the process's resident set while it is in flight. */
async function timeOnce(fn: () => Promise<unknown>): Promise<{ ms: number; cpuMs: number; extraBytes: number }> {
  const before = process.memoryUsage.rss();
  let high = before;
  const sampler = setInterval(() => {
    high = Math.max(high, process.memoryUsage.rss());
  }, 2);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  try {
    await fn();
  } finally {
    clearInterval(sampler);
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  high = Math.max(high, process.memoryUsage.rss());
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000, extraBytes: high - before };
}

/**
 * Runs the variants in interleaved rounds (A B C D, A B C D, ...), so that load from other processes
 * on a shared machine falls on all of them alike; best and median per variant.
 */
export async function measureInterleaved(variants: Array<{ name: string; fn: () => Promise<unknown> }>, rounds: number): Promise<Map<string, Measured>> {
  const samples = new Map<string, { times: number[]; cpu: number[]; peak: number }>(variants.map((v) => [v.name, { times: [], cpu: [], peak: 0 }]));
  for (let r = 0; r < rounds; r++) {
    for (const v of variants) {
      const { ms, cpuMs, extraBytes } = await timeOnce(v.fn);
      const s = samples.get(v.name)!;
      s.times.push(ms);
      s.cpu.push(cpuMs);
      s.peak = Math.max(s.peak, extraBytes);
      process.stderr.write(`  round ${r + 1}/${rounds}: ${v.name}: ${ms.toFixed(0)} ms (CPU ${cpuMs.toFixed(0)} ms)\n`);
    }
  }
  const out = new Map<string, Measured>();
  for (const [name, s] of samples) {
    s.times.sort((a, b) => a - b);
    out.set(name, { minMs: s.times[0] ?? NaN, medianMs: s.times[Math.floor(s.times.length / 2)] ?? NaN,
      minCpuMs: Math.min(...s.cpu), peakExtraBytes: s.peak });
  }
  return out;
}

export const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
