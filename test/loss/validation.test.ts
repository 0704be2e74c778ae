// Every malformed input to grpoLoss / selectiveLogprobs is refused with an error naming the problem,
// both through the TypeScript API and when the native binding is called directly (the core must not
// trust its caller).
import { describe, expect, it } from "vitest";
import { grpoLoss, selectiveLogprobs, type GrpoLossInput } from "../../src/index.js";
import { native } from "../../src/native/index.js";
import { makeCase, relativeError } from "./reference.js";

// T = 6 tokens, d = 4, V = 9, S = 3 responses of 2 tokens
const good = (): GrpoLossInput => makeCase({ T: 6, d: 4, V: 9, S: 3, seed: 21, temperature: 1, beta: 0.1, klMask: "advantage" });

function withNaN(a: Float32Array, i: number, v = Number.NaN): Float32Array {
  const out = Float32Array.from(a);
  out[i] = v;
  return out;
}

const cases: Array<[string, (x: GrpoLossInput) => Partial<GrpoLossInput> | Record<string, unknown>, RegExp]> = [
  ["hidden length not T x d", (x) => ({ hidden: x.hidden.slice(1) }), /hidden has 23 values, which is not 6 tokens/],
  ["lmHead length not V x d", (x) => ({ lmHead: x.lmHead.slice(2) }), /lmHead has 34 values, which is not a whole number of rows of d = 4/],
  ["no tokens", () => ({ targets: new Int32Array(0) }), /targets is empty/],
  ["target below 0", () => ({ targets: new Int32Array([0, 1, -1, 3, 4, 5]) }), /targets\[2\] = -1 is outside the vocabulary \[0, 9\)/],
  ["target = V", () => ({ targets: new Int32Array([0, 1, 2, 3, 4, 9]) }), /targets\[5\] = 9 is outside/],
  ["seqStarts with one entry", () => ({ seqStarts: new Int32Array([0]) }), /seqStarts needs S \+ 1 >= 2 entries/],
  ["seqStarts not starting at 0", () => ({ seqStarts: new Int32Array([1, 2, 4, 6]) }), /seqStarts\[0\] must be 0/],
  ["an empty response", () => ({ seqStarts: new Int32Array([0, 2, 2, 6]) }), /response 1 is empty/],
  ["seqStarts decreasing", () => ({ seqStarts: new Int32Array([0, 4, 3, 6]) }), /response 1 is empty or seqStarts decreases/],
  ["seqStarts not ending at T", () => ({ seqStarts: new Int32Array([0, 2, 4, 5]) }), /seqStarts must end at T = 6/],
  ["advantages of the wrong length", (x) => ({ advantages: x.advantages.slice(1) }), /advantages has 2 values but needs 3/],
  ["seqWeights of the wrong length", () => ({ seqWeights: new Float32Array(4) }), /seqWeights has 4 values but needs 3/],
  ["oldLogp of the wrong length", (x) => ({ oldLogp: x.oldLogp.slice(1) }), /oldLogp has 5 values but needs 6/],
  ["refLogp of the wrong length", () => ({ refLogp: new Float32Array(7) }), /refLogp has 7 values but needs 6/],
  ["NaN advantage", (x) => ({ advantages: withNaN(x.advantages, 1) }), /advantages\[1\] is NaN/],
  ["infinite seqWeight", (x) => ({ seqWeights: withNaN(x.seqWeights, 2, Infinity) }), /seqWeights\[2\] is Infinity/],
  ["-Infinity oldLogp", (x) => ({ oldLogp: withNaN(x.oldLogp, 3, -Infinity) }), /oldLogp\[3\] is -Infinity/],
  ["NaN refLogp", (x) => ({ refLogp: withNaN(x.refLogp, 0) }), /refLogp\[0\] is NaN/],
  ["NaN hidden (checked by the core)", (x) => ({ hidden: withNaN(x.hidden, 13) }), /hidden\[13\] is nan; every value must be finite/],
  ["infinite lmHead (checked by the core)", (x) => ({ lmHead: withNaN(x.lmHead, 30, -Infinity) }), /lmHead\[30\] is -inf/],
  ["temperature 0", () => ({ temperature: 0 }), /temperature must be a finite number > 0 \(got 0\)/],
  ["negative temperature", () => ({ temperature: -1 }), /temperature must be/],
  ["NaN temperature", () => ({ temperature: Number.NaN }), /temperature must be/],
  ["negative epsilon", () => ({ epsilon: -0.1 }), /epsilon must be a number in \[0, 1\]/],
  ["epsilon above 1", () => ({ epsilon: 1.5 }), /epsilon must be a number in \[0, 1\]/],
  ["negative epsilonHigh", () => ({ epsilonHigh: -0.2 }), /epsilonHigh must be a finite number >= 0/],
  ["negative beta", () => ({ beta: -0.1 }), /beta must be a finite number >= 0/],
  ["infinite beta", () => ({ beta: Infinity }), /beta must be/],
  ["unknown klMask", () => ({ klMask: "none" }), /klMask must be "advantage" or "all"/],
  ["hidden as Float64Array", (x) => ({ hidden: Float64Array.from(x.hidden) }), /hidden must be a Float32Array \(got Float64Array\)/],
  ["targets as a plain array", () => ({ targets: [0, 1, 2, 3, 4, 5] }), /targets must be an Int32Array \(got Array\)/],
];

describe("grpoLoss refuses malformed input", () => {
  it("accepts the well-formed base case (so the refusals below are about the one change each makes)", async () => {
    const r = await grpoLoss(good());
    expect(Number.isFinite(r.loss)).toBe(true);
  });

  for (const [name, change, message] of cases) {
    it(name, async () => {
      const x = good();
      await expect(grpoLoss({ ...x, ...change(x) } as GrpoLossInput)).rejects.toThrow(message);
    });
  }

  it("refuses an unknown device and a bad tileRows", async () => {
    await expect(grpoLoss(good(), { device: "tpu" as "cpu" })).rejects.toThrow(/device must be "cpu" or "cuda"/);
    await expect(grpoLoss(good(), { tileRows: -1 })).rejects.toThrow(/tileRows must be a whole number >= 0/);
  });
});

describe("selectiveLogprobs refuses malformed input", () => {
  const x = good();
  const base = { hidden: x.hidden, lmHead: x.lmHead, targets: x.targets, temperature: 0.7 };
  it("accepts the base case", async () => {
    expect((await selectiveLogprobs(base)).length).toBe(6);
  });
  it("temperature <= 0", async () => {
    await expect(selectiveLogprobs({ ...base, temperature: 0 })).rejects.toThrow(/selectiveLogprobs: temperature must be/);
  });
  it("target outside the vocabulary", async () => {
    await expect(selectiveLogprobs({ ...base, targets: new Int32Array([0, 1, 2, 3, 4, 10]) })).rejects.toThrow(/targets\[5\] = 10/);
  });
  it("hidden not T x d", async () => {
    await expect(selectiveLogprobs({ ...base, hidden: x.hidden.slice(3) })).rejects.toThrow(/hidden has 21 values/);
  });
  it("non-finite lmHead", async () => {
    await expect(selectiveLogprobs({ ...base, lmHead: withNaN(x.lmHead, 5) })).rejects.toThrow(/lmHead\[5\] is nan/);
  });
});

describe("the native binding checks sizes and values itself", () => {
  const x = good();
  const call = (over: Partial<GrpoLossInput>) => {
    const y = { ...x, ...over };
    return native().grpoLoss(y, { device: "cpu", tileRows: 0 });
  };
  it("array lengths", () => {
    expect(() => call({ advantages: new Float32Array(2) })).toThrow(/advantages has 2 values but needs 3/);
    expect(() => call({ refLogp: new Float32Array(5) })).toThrow(/refLogp has 5 values but needs 6/);
    expect(() => call({ hidden: x.hidden.slice(1) })).toThrow(/hidden has 23 values/);
  });
  it("seqStarts and targets", async () => {
    await expect(call({ seqStarts: new Int32Array([0, 3, 3, 6]) })).rejects.toThrow(/response 1 is empty/);
    await expect(call({ seqStarts: new Int32Array([0, 2, 4, 60]) })).rejects.toThrow(/must end at T = 6/);
    await expect(call({ targets: new Int32Array([0, 1, 2, 3, 4, 99]) })).rejects.toThrow(/targets\[5\] = 99/);
  });
  it("every loss setting is required (no defaults below the run config)", () => {
    for (const key of ["epsilon", "epsilonHigh", "beta", "temperature", "klMask"] as const) {
      const { [key]: _dropped, ...rest } = x;
      expect(() => native().grpoLoss(rest as GrpoLossInput, { device: "cpu", tileRows: 0 })).toThrow(new RegExp(`grpoLoss: ${key} is required`));
    }
  });
  it("argument types", () => {
    expect(() => native().grpoLoss({ ...x, targets: new Float32Array(6) as unknown as Int32Array }, { device: "cpu", tileRows: 0 }))
      .toThrow(/targets must be an Int32Array/);
  });
});

describe("device cuda", () => {
  it("agrees with the CPU where a GPU exists, and otherwise refuses with the reason", async () => {
    const x = makeCase({ T: 12, d: 16, V: 700, S: 3, seed: 31, temperature: 0.7, beta: 0.1, klMask: "advantage" });
    const cuda = native().info().cuda;
    if (cuda.compiled && cuda.deviceCount > 0) {
      const [cpu, gpu] = [await grpoLoss(x), await grpoLoss(x, { device: "cuda" })];
      expect(Math.abs(gpu.loss - cpu.loss)).toBeLessThan(1e-4 * Math.abs(cpu.loss));
      expect(relativeError(gpu.dHidden, cpu.dHidden)).toBeLessThan(1e-4);
      expect(relativeError(await selectiveLogprobs({ ...x }, { device: "cuda" }), cpu.logp)).toBeLessThan(1e-4);
    } else {
      const why = cuda.compiled ? /grpoLoss on CUDA: no usable device/ : /this binary was built without CUDA/;
      await expect(grpoLoss(x, { device: "cuda" })).rejects.toThrow(why);
      await expect(selectiveLogprobs({ ...x }, { device: "cuda" })).rejects.toThrow(cuda.compiled ? /no usable device/ : why);
    }
  });
});
