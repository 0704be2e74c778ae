// The server's generator routes over real HTTP on a tiny model: /v1/completions in vLLM's dialect
// (token-id prompts, n, token ids, log-probs checked against the training engine's softmax), runtime
// adapters (vLLM's load/unload API, only from --lora-dir, symlinks included), strict model names once
// adapters are served, and the API key.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine, Generator, startOpenAIServer, writeTinyModel, type RunningServer } from "../../src/index.js";

const work = mkdtempSync(join(tmpdir(), "spogw-routes-"));
const loraDir = join(work, "allowed");
const outside = join(work, "outside");
const modelPath = join(work, "model.gguf");
const API_KEY = "test-key-3f9a1c";

let generator: Generator;
let server: RunningServer;
let engine: Engine;

/** POSTs or GETs JSON with the API key; returns the status and the parsed (or text) body. */
async function call(path: string, body?: unknown, key: string | null = API_KEY): Promise<{ status: number; body: any }> {
  const root = server.url.replace(/\/v1$/, "");
  const response = await fetch(`${root}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { "content-type": "application/json", ...(key !== null ? { authorization: `Bearer ${key}` } : {}) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // text answer
  }
  return { status: response.status, body: parsed };
}

/** softmax(logits) of every position, in float64. */
function softmaxRows(logits: Float32Array, vocab: number): Float64Array[] {
  const rows: Float64Array[] = [];
  for (let t = 0; t < logits.length / vocab; t++) {
    const row = logits.subarray(t * vocab, (t + 1) * vocab);
    const max = Math.max(...row);
    const exp = Float64Array.from(row, (x) => Math.exp(x - max));
    const sum = exp.reduce((a, b) => a + b, 0);
    rows.push(exp.map((x) => x / sum));
  }
  return rows;
}

beforeAll(async () => {
  mkdirSync(loraDir);
  mkdirSync(outside);
  await writeTinyModel(modelPath, { arch: "llama", seed: 9, kvHeads: 2, ctx: 512 });
  engine = await Engine.load(modelPath, { threads: 1 });
  engine.initLora({ rank: 4, alpha: 8, init: "random", seed: 1 });
  await engine.saveLora(join(loraDir, "peft"), { format: "peft" });
  await engine.saveLora(join(loraDir, "adapter.gguf"));
  await engine.saveLora(join(outside, "peft"), { format: "peft" });
  await engine.saveLora(join(outside, "adapter.gguf"));
  generator = await Generator.load({ modelPath, threads: 1, sequences: 3, exactKvCache: true });
  server = await startOpenAIServer({ generator, modelName: "base", loraDirs: [loraDir], apiKey: API_KEY });
}, 120_000);

afterAll(async () => {
  await server?.close();
  await generator?.dispose();
  engine?.dispose();
  rmSync(work, { recursive: true, force: true });
});

describe("/v1/completions in vLLM's dialect", () => {
  it("token-id prompt, n, token ids and top-5 log-probs: the next-token probabilities equal the engine's softmax within 1e-5, base and adapter", async () => {
    const prompt = generator.tokenize("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
    expect((await call("/v1/load_lora_adapter", { lora_name: "tuned", lora_path: join(loraDir, "peft") })).status).toBe(200);
    for (const [model, adapter] of [["base", null], ["tuned", join(loraDir, "adapter.gguf")]] as const) {
      const { status, body } = await call("/v1/completions", {
        model, prompt, n: 3, max_tokens: 12, seed: 4, logprobs: 5, return_token_ids: true, return_tokens_as_token_ids: true,
      });
      expect(status, JSON.stringify(body)).toBe(200);
      expect(body.model).toBe(model);
      expect(body.choices).toHaveLength(3);
      const expected = await generator.sample(prompt, { m: 3, maxTokens: 12, seed: 4 }); // the generator now has `model`'s adapter
      const scorer = await Engine.load(modelPath, { threads: 1 });
      try {
        if (adapter) await scorer.loadLora(adapter);
        let worst = 0;
        for (const [i, choice] of body.choices.entries()) {
          expect(choice.prompt_token_ids).toEqual(prompt);
          expect(choice.token_ids).toEqual(expected[i]!.tokens);
          expect(choice.logprobs.tokens).toEqual(choice.token_ids.map((t: number) => `token_id:${t}`));
          const all = [...prompt, ...choice.token_ids];
          const probabilities = softmaxRows(await scorer.logits(Int32Array.from(all)), generator.vocabularySize);
          choice.token_ids.forEach((token: number, j: number) => {
            const row = probabilities[prompt.length + j - 1]!;
            const top: Record<string, number> = choice.logprobs.top_logprobs[j];
            // The sampled token first, then the five most likely (six entries, or five when it is one of them).
            expect(Object.keys(top)[0]).toBe(`token_id:${token}`);
            expect(Object.keys(top).length).toBeGreaterThanOrEqual(5);
            const fifth = [...row].sort((a, b) => b - a)[4]!;
            for (const [name, logprob] of Object.entries(top)) {
              const id = Number(name.slice("token_id:".length));
              worst = Math.max(worst, Math.abs(Math.exp(logprob) - row[id]!));
              if (name !== `token_id:${token}`) expect(row[id]!).toBeGreaterThanOrEqual(fifth - 1e-6);
            }
            worst = Math.max(worst, Math.abs(Math.exp(choice.logprobs.token_logprobs[j]) - row[token]!));
          });
        }
        expect(worst).toBeLessThan(1e-5);
      } finally {
        scorer.dispose();
      }
    }
    expect((await call("/v1/unload_lora_adapter", { lora_name: "tuned" })).status).toBe(200);
  }, 120_000);

  it("refuses what it would otherwise ignore, with 400 and the field's name", async () => {
    const base = { model: "base", prompt: "hi", max_tokens: 2 };
    for (const [extra, reason] of [
      [{ echo: true }, /`echo` is not supported/],
      [{ stream: true }, /`stream` is not supported/],
      [{ logprobs: 21 }, /`logprobs` is out of range/],
      [{ n: 0 }, /`n` is out of range/],
      [{ structured_outputs: { json: {} } }, /structured_outputs\.json is not supported .*only grammar/],
      [{ prompt: [1, -2] }, /`prompt` must be a string or a non-empty list of token ids/],
      [{ prompt: [100000] }, /prompt\[0\] = 100000 is not a token id of this model/],
      [{ presence_penalty: 0.5 }, /`presence_penalty` is not supported/],
    ] as const) {
      const { status, body } = await call("/v1/completions", { ...base, ...extra });
      expect([status, body.error?.message]).toEqual([400, expect.stringMatching(reason)]);
    }
  });

  it("with adapters served, a model name that is neither the base nor a loaded adapter is 404 (as vLLM)", async () => {
    const { status, body } = await call("/v1/completions", { model: "spogw-gone-iter-1", prompt: "hi", max_tokens: 2 });
    expect([status, body.error.message]).toEqual([404, "The model `spogw-gone-iter-1` does not exist."]);
  });
});

describe("runtime adapters", () => {
  it("loads GGUF files and PEFT directories inside --lora-dir, lists them in /v1/models, unloads them", async () => {
    expect(await call("/v1/load_lora_adapter", { lora_name: "a", lora_path: join(loraDir, "adapter.gguf") })).toEqual({ status: 200, body: "Success: LoRA adapter 'a' added successfully." });
    expect((await call("/v1/load_lora_adapter", { lora_name: "b", lora_path: join(loraDir, "peft") })).status).toBe(200);
    const again = await call("/v1/load_lora_adapter", { lora_name: "a", lora_path: join(loraDir, "adapter.gguf") });
    expect([again.status, again.body.error.message]).toEqual([400, expect.stringMatching(/The lora adapter 'a' has already been loaded/)]);
    const models = (await call("/v1/models")).body.data.map((m: { id: string; root: string; parent: string | null }) => [m.id, m.parent, m.root]);
    expect(models).toEqual([["base", null, modelPath], ["a", "base", join(loraDir, "adapter.gguf")], ["b", "base", join(loraDir, "peft")]]);
    // Both forms of the same adapter sample the same tokens.
    const sample = async (model: string) => (await call("/v1/completions", { model, prompt: "x", max_tokens: 8, seed: 2, n: 2, return_token_ids: true })).body.choices.map((c: { token_ids: number[] }) => c.token_ids);
    expect(await sample("a")).toEqual(await sample("b"));
    expect(await sample("a")).not.toEqual(await sample("base"));
    expect((await call("/v1/unload_lora_adapter", { lora_name: "a" })).body).toBe("Success: LoRA adapter 'a' removed successfully.");
    expect((await call("/v1/unload_lora_adapter", { lora_name: "a" })).status).toBe(404);
    expect((await call("/v1/completions", { model: "a", prompt: "x", max_tokens: 2 })).status).toBe(404);
    expect((await call("/v1/unload_lora_adapter", { lora_name: "b" })).status).toBe(200);
  });

  it("refuses paths outside --lora-dir, through .. or symlinks (the file itself or one inside a PEFT directory), with 403; a missing one with 404", async () => {
    symlinkSync(join(outside, "adapter.gguf"), join(loraDir, "link.gguf"));
    symlinkSync(outside, join(loraDir, "linked-dir"));
    mkdirSync(join(loraDir, "sneaky-peft"));
    symlinkSync(join(outside, "peft", "adapter_model.safetensors"), join(loraDir, "sneaky-peft", "adapter_model.safetensors"));
    writeFileSync(join(loraDir, "sneaky-peft", "adapter_config.json"), JSON.stringify({ r: 4, lora_alpha: 8 }));
    for (const [path, status, reason] of [
      [join(outside, "adapter.gguf"), 403, /resolves outside the adapter directories/],
      [join(loraDir, "..", "outside", "peft"), 403, /resolves outside/],
      [join(loraDir, "link.gguf"), 403, /resolves outside/],
      [join(loraDir, "linked-dir", "peft"), 403, /resolves outside/],
      [join(loraDir, "sneaky-peft"), 403, /adapter_model\.safetensors resolves outside/],
      [join(loraDir, "missing.gguf"), 404, /no such file or directory/],
      ["relative/peft", 400, /lora_path must be an absolute path/],
    ] as const) {
      const { status: got, body } = await call("/v1/load_lora_adapter", { lora_name: "x", lora_path: path });
      expect([path, got, body.error?.message]).toEqual([path, status, expect.stringMatching(reason)]);
    }
    expect((await call("/v1/models")).body.data.map((m: { id: string }) => m.id)).toEqual(["base"]);
  });

  it("a malformed adapter inside --lora-dir is refused with the reason; the server keeps serving", async () => {
    writeFileSync(join(loraDir, "broken.gguf"), "GGUF not really");
    mkdirSync(join(loraDir, "rslora"));
    writeFileSync(join(loraDir, "rslora", "adapter_config.json"), JSON.stringify({ r: 4, lora_alpha: 8, use_rslora: true }));
    writeFileSync(join(loraDir, "rslora", "adapter_model.safetensors"), Buffer.alloc(8));
    const broken = await call("/v1/load_lora_adapter", { lora_name: "broken", lora_path: join(loraDir, "broken.gguf") });
    expect(broken.status).toBe(400);
    const rslora = await call("/v1/load_lora_adapter", { lora_name: "rs", lora_path: join(loraDir, "rslora") });
    expect([rslora.status, rslora.body.error.message]).toEqual([400, expect.stringMatching(/use_rslora is true \(only plain LoRA converts\)/)]);
    expect((await call("/v1/completions", { model: "base", prompt: "x", max_tokens: 2 })).status).toBe(200);
  });

  it("a server started without --lora-dir loads nothing (403) and answers any model name with its model", async () => {
    const plain = await startOpenAIServer({ generator, modelName: "base" });
    try {
      const post = (path: string, body: unknown) => fetch(`${plain.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      const load = await post("/load_lora_adapter", { lora_name: "a", lora_path: join(loraDir, "adapter.gguf") });
      expect([load.status, ((await load.json()) as { error: { message: string } }).error.message]).toEqual([403, expect.stringMatching(/loads no adapters: start it with --lora-dir/)]);
      const any = await post("/completions", { model: "gpt-4o-mini", prompt: "x", max_tokens: 2 });
      expect([any.status, ((await any.json()) as { model: string }).model]).toEqual([200, "base"]);
    } finally {
      await plain.close();
    }
  });
});

describe("--api-key", () => {
  it("every route needs `Authorization: Bearer KEY`: none or a wrong one is 401, and no answer contains the key", async () => {
    for (const key of [null, "wrong", `${API_KEY}x`]) {
      for (const [path, body] of [["/v1/models", undefined], ["/v1/completions", { prompt: "x" }], ["/v1/load_lora_adapter", { lora_name: "a", lora_path: "/" }], ["/tokenize", { prompt: "x" }]] as const) {
        const answer = await call(path, body, key);
        expect([path, answer.status]).toEqual([path, 401]);
        expect(JSON.stringify(answer.body)).not.toContain(API_KEY);
      }
    }
    expect((await call("/v1/models")).status).toBe(200);
    expect((await call("/tokenize", { prompt: "héllo" })).body.tokens).toEqual(generator.tokenize("héllo"));
  });
});
