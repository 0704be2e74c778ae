// `bench sampling --generator-url`: the same model sampled through a generator server beside in-process
// sampling. With F32 KV caches on both sides the server samples exactly what this process samples, so
// each server row generates as many tokens as the in-process row it is set beside.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import yargs from "yargs";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { benchSamplingCommand } from "../../src/cli/commands/bench/sampling.js";
import { Generator, startOpenAIServer, writeTinyModel, type RunningServer } from "../../src/index.js";

const work = mkdtempSync(join(tmpdir(), "spogw-bench-server-"));
const model = join(work, "model.gguf");
let generator: Generator;
let server: RunningServer;

beforeAll(async () => {
  await writeTinyModel(model, { arch: "qwen2", seed: 4, kvHeads: 2 });
  generator = await Generator.load({ modelPath: model, threads: 1, sequences: 3, exactKvCache: true });
  server = await startOpenAIServer({ generator, modelName: "tiny" });
}, 120_000);
afterAll(async () => {
  await server?.close();
  await generator?.dispose();
  rmSync(work, { recursive: true, force: true });
});

async function bench(args: string[]): Promise<string> {
  const printed: string[] = [];
  const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => (printed.push(String(chunk)), true));
  try {
    await yargs(["sampling", ...args]).command(benchSamplingCommand).strict().exitProcess(false).fail((m, e) => {
      throw e ?? new Error(m);
    }).parseAsync();
  } finally {
    spy.mockRestore();
  }
  return printed.join("");
}

describe("spogw-native bench sampling --generator-url", () => {
  it("prints server rows beside the in-process rows, the same tokens on both sides", async () => {
    const output = await bench(["--model", model, "--generator-url", server.url, "--exact-sampling", "--parallel", "3", "--tokens", "8", "--runs", "1"]);
    expect(output).toContain(`generator server: ${server.url} (model tiny`);
    const rows = new Map(
      output.split("\n").filter((line) => /\s{2,}\d+\s{2,}\d+\s{2,}[\d.]+\s{2,}\d+\s{2,}\d+$/.test(line)).map((line) => {
        const cells = line.trim().split(/\s{2,}/);
        return [cells[0]!, { sequences: Number(cells[1]), tokens: Number(cells[2]), rate: Number(cells[4]) }];
      }),
    );
    expect([...rows.keys()]).toEqual(["1 sequence", "3 parallel", "server, 1 request n=1", "server, 1 request n=3", "server, 3 requests at once"]);
    expect(rows.get("server, 1 request n=1")!.tokens).toBe(rows.get("1 sequence")!.tokens);
    expect(rows.get("server, 1 request n=3")!.tokens).toBe(rows.get("3 parallel")!.tokens);
    expect(rows.get("server, 3 requests at once")!.tokens).toBe(rows.get("3 parallel")!.tokens);
    for (const row of rows.values()) expect(row.rate).toBeGreaterThan(0);
  }, 120_000);

  it("needs --model: the GGUF the server runs", async () => {
    await expect(bench(["--generator-url", server.url, "--runs", "1"])).rejects.toThrow(/--generator-url needs --model: the GGUF model the server runs/);
  });
});
