#!/usr/bin/env node
// scripts/gpu-check.sh --prepare, the part that needs Node: writes the GPU check's fixtures into DIR
// (default .gpu-check/fixtures, git-ignored): per case a tiny GGUF model written by the package's own
// writer, the inputs (case.txt: LoRA init, loss settings, items) and the CPU engine's outputs on them
// (logits, each item's response log-probs, the loss and the LoRA gradients of one backward over all
// items, as little-endian float32 files). native/tests/test_engine_gpu.cc --fixtures DIR checks the
// CUDA engine against them. Uses dist/ (npm run build:ts) and the built addon.
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { writeTinyModel } from "../dist/gguf/index.js";
import { Engine, LORA_TARGETS } from "../dist/train/index.js";

const dir = resolve(process.argv[2] ?? ".gpu-check/fixtures");
const settings = { epsilon: 0.2, epsilonHigh: 0.28, beta: 0.1, temperature: 0.9, klMask: "advantage" };
const lora = { rank: 4, alpha: 8, seed: 7 };

// F32 weights are compared in both precision modes; F16 weights in the bf16 mode only (the CPU rounds
// their inputs to F16, a step function the f32 mode's tolerance cannot absorb: native/tests/test_engine_gpu.cc).
const cases = [
  { name: "llama-f32-gqa-untied", model: { arch: "llama", seed: 11, kvHeads: 2, dtype: "f32" }, precisions: ["f32", "bf16"] },
  { name: "qwen2-f16-tied", model: { arch: "qwen2", seed: 12, kvHeads: 1, dtype: "f16", tied: true }, precisions: ["bf16"] },
];

function seeded(seed) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

const f32 = (values) => Buffer.from(Float32Array.from(values).buffer);

for (const c of cases) {
  const out = join(dir, c.name);
  mkdirSync(out, { recursive: true });
  const modelPath = join(out, "model.gguf");
  await writeTinyModel(modelPath, c.model);
  const engine = await Engine.load(modelPath, { device: "cpu" });
  try {
    const V = engine.config.vocabSize;
    const random = seeded(c.model.seed);
    const draw = (n) => Array.from({ length: n }, () => Math.floor(random() * V));
    // Three responses to one prompt and one to another, the prompt's items apart: the group layout's case.
    const prompt = draw(9), other = draw(5);
    const items = [
      [prompt, draw(6)],
      [other, draw(7)],
      [prompt, draw(11)],
      [prompt, draw(1)],
    ].map(([p, r], i) => ({ tokens: Int32Array.from([...p, ...r]), responseStart: p.length, advantage: i % 2 ? -0.6 : 1.1, weight: 1 / (r.length + 2) }));

    engine.initLora({ rank: lora.rank, alpha: lora.alpha, targets: [...LORA_TARGETS], init: "random", seed: lora.seed });
    const logitsTokens = items[2].tokens;
    const logits = await engine.logits(logitsTokens);
    const logprobs = [];
    for (const it of items) logprobs.push(await engine.tokenLogprobs(it.tokens, it.responseStart, settings.temperature));
    const batch = items.map((it, i) => {
      const own = logprobs[i];
      return { ...it, oldLogp: own.map((v, j) => v + 0.1 * Math.sin(3 * j + i)), refLogp: own.map((v, j) => v - 0.05 * Math.cos(5 * j + i)) };
    });
    const { loss } = await engine.backward(batch, settings);
    const grads = await engine.loraGradients();
    const names = Object.keys(grads);
    const gradA = names.filter((n) => n.endsWith(".lora_a")).flatMap((n) => [...grads[n]]);
    const gradB = names.filter((n) => n.endsWith(".lora_b")).flatMap((n) => [...grads[n]]);

    const lines = [
      `precisions ${c.precisions.join(" ")}`,
      `lora ${lora.rank} ${lora.alpha} ${lora.seed}`,
      `loss_settings ${settings.epsilon} ${settings.epsilonHigh} ${settings.beta} ${settings.temperature} ${settings.klMask}`,
      `logits_tokens ${logitsTokens.length} ${[...logitsTokens].join(" ")}`,
      ...batch.map(
        (it) =>
          `item ${it.tokens.length} ${it.responseStart} ${it.advantage} ${it.weight} ${[...it.tokens].join(" ")} ` +
          `${[...it.oldLogp].join(" ")} ${[...it.refLogp].join(" ")}`,
      ),
      `loss ${loss}`,
    ];
    writeFileSync(join(out, "case.txt"), lines.join("\n") + "\n");
    writeFileSync(join(out, "logits.f32"), f32(logits));
    writeFileSync(join(out, "logprobs.f32"), f32(logprobs.flatMap((l) => [...l])));
    writeFileSync(join(out, "grad_a.f32"), f32(gradA));
    writeFileSync(join(out, "grad_b.f32"), f32(gradB));
    process.stdout.write(`gpu-check fixtures: ${out} (${c.model.arch} ${c.model.dtype}, V=${V}, ${items.length} items, loss ${loss.toFixed(6)})\n`);
  } finally {
    engine.dispose();
  }
}
writeFileSync(join(dir, "cases.txt"), cases.map((c) => c.name).join("\n") + "\n");
