// Fault injection for the local server, so that tests exercise retries, timeouts and failure records
// against real HTTP: each request independently fails with an error status, hangs (never answers),
// or is delayed. Decisions come from a seeded generator, so a test run is repeatable.

export interface FaultOptions {
  /** Share of requests answered with 500, 503 or 429 (0..1). */
  errorRate?: number;
  /** Share of requests that never get an answer (0..1). */
  hangRate?: number;
  /** Delay before every answer, in milliseconds. */
  latencyMs?: number;
  seed?: number;
}

export type FaultDecision = { kind: "ok" } | { kind: "hang" } | { kind: "error"; status: 429 | 500 | 503 };

const ERROR_STATUSES = [500, 503, 429] as const;

export class FaultInjector {
  readonly errorRate: number;
  readonly hangRate: number;
  readonly latencyMs: number;
  private state: number;

  constructor(options: FaultOptions = {}) {
    this.errorRate = checkRate("error rate", options.errorRate ?? 0);
    this.hangRate = checkRate("hang rate", options.hangRate ?? 0);
    if (this.errorRate + this.hangRate > 1) throw new RangeError("error rate + hang rate must not exceed 1");
    this.latencyMs = options.latencyMs ?? 0;
    if (!Number.isFinite(this.latencyMs) || this.latencyMs < 0) throw new RangeError(`latency must be >= 0 ms, got ${this.latencyMs}`);
    this.state = (options.seed ?? 0) >>> 0;
  }

  next(): FaultDecision {
    const roll = this.random();
    if (roll < this.errorRate) return { kind: "error", status: ERROR_STATUSES[Math.floor(this.random() * ERROR_STATUSES.length)]! };
    if (roll < this.errorRate + this.hangRate) return { kind: "hang" };
    return { kind: "ok" };
  }

  /** mulberry32: small, fast, good enough to spread faults evenly. */
  private random(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

function checkRate(name: string, rate: number): number {
  if (!Number.isFinite(rate) || rate < 0 || rate > 1) throw new RangeError(`${name} must be between 0 and 1, got ${rate}`);
  return rate;
}
