// Deterministic pseudo-random numbers: one independent stream per (seed, name), so a value depends only
// on the seed and its stream's name, not on what else drew numbers (a test model's tensor does not move
// when another tensor is added; a sampling seed does not move when another query is added). Used by
// the test-model writer, the dataset's group sampling and the run's seeds.

/** FNV-1a over the UTF-8 bytes of `text`, mixed with `seed`. */
function hashSeed(seed: number, text: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (const byte of Buffer.from(text, "utf8")) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export class SeededRandom {
  private state: number;

  constructor(seed: number, streamName = "") {
    this.state = hashSeed(seed >>> 0, streamName);
  }

  /** Uniform in [0, 1) (mulberry32). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next(); // (0, 1]: log(u) is finite
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** `count` values drawn from N(mean, std^2). */
  normalArray(count: number, std: number, mean = 0): Float32Array {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = mean + std * this.normal();
    return out;
  }
}
