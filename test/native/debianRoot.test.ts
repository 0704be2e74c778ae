// The packed package on Debian 11 (glibc 2.31, the prebuilds' floor) with no compiler at all: a minbase
// root made with debootstrap (cached, scripts/debianRoot.mjs), this machine's Node copied in, the
// tarball installed through its own install hook, then info, gemm and an engine backward on a tiny model
// with the CPU prebuild, and each CUDA prebuild loaded (no driver there: it reports no device and the
// CPU paths run). The same check, given a prebuild that needs a newer glibc, fails naming its symbols.
import { execFile } from "node:child_process";
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEBIAN_SUITE, ensureRoot, GLIBC_FLOOR, runInRootAsync } from "../../scripts/debianRoot.mjs";
import { glibcFloor, glibcSymbolsAbove, sha256 } from "../../scripts/elfFacts.mjs";
import { writeTinyModel } from "../../src/gguf/index.js";
import type { PrebuildManifest } from "../../src/native/platform.js";
import { ensurePrebuilds, hostToolchainAddon, repoRoot } from "../helpers/prebuilds.js";
import { relativeError, runTorchReference, type ReferenceBatchItem } from "../helpers/torchReference.js";

const npmDir = join(dirname(process.execPath), "..", "lib", "node_modules", "npm");
const prebuildsIn = (consumer: string) => join(consumer, "node_modules", "spogw-native", "prebuilds", `${process.platform}-${process.arch}`);

let root: string;
let work: string;
let consumer: string;
let manifest: PrebuildManifest;

type RootRun = Awaited<ReturnType<typeof runInRootAsync>>;
const execFileAsync = promisify(execFile);

/** Runs a command in the Debian root with `dir` (on this machine) as /mnt and npm at /opt/npm. */
function inRoot(dir: string, argv: string[], env: Record<string, string> = {}): Promise<RootRun> {
  return runInRootAsync(root, argv, {
    binds: [{ from: dir, to: "/mnt" }, { from: npmDir, to: "/opt/npm", readOnly: true }],
    cwd: "/mnt/consumer",
    env: { NODE_LLAMA_CPP_SKIP_DOWNLOAD: "true", ...env },
    timeoutMs: 280_000,
  });
}

const cli = ["node", "node_modules/spogw-native/dist/cli/cli.js"];

interface RootInfo {
  source: string; variant: string; isaBaseline: string; binaryPath: string; reason: string;
  tried: Array<{ path: string; skipped: string }>;
  cuda: { compiled: boolean; deviceCount: number; error: string; runtimeVersion: number };
}

/**
 * Installs the package in `dir`/consumer through its install hook and runs info and gemm, inside the
 * root. Any failure throws with the output and the glibc symbols above the floor in each prebuild.
 */
async function installAndRun(dir: string): Promise<{ hook: string; info: RootInfo; gemm: number[] }> {
  const fail = (what: string, r: RootRun) => {
    const symbols = Object.values(JSON.parse(readFileSync(join(prebuildsIn(join(dir, "consumer")), "manifest.json"), "utf8")).variants as PrebuildManifest["variants"])
      .map((v) => `  ${v.file}: ${glibcSymbolsAbove(join(prebuildsIn(join(dir, "consumer")), v.file), GLIBC_FLOOR).join(", ") || `nothing above GLIBC_${GLIBC_FLOOR}`}`);
    throw new Error(`${what} failed in the Debian ${DEBIAN_SUITE} root (exit ${r.status}):\n${r.stdout}\n${r.stderr}\n` +
      `glibc symbols above ${GLIBC_FLOOR} in the prebuilds:\n${symbols.join("\n")}`);
  };
  const hook = await inRoot(dir, ["node", "/opt/npm/bin/npm-cli.js", "rebuild", "spogw-native", "--foreground-scripts"]);
  if (hook.status !== 0) fail("the install hook (npm rebuild)", hook);
  const info = await inRoot(dir, [...cli, "info", "--json"]);
  if (info.status !== 0) fail("spogw-native info", info);
  const gemm = await inRoot(dir, ["node", "--input-type=module", "-e", `
    import { gemm } from "spogw-native";
    const c = await gemm(new Float32Array([1, 2, 3, 4, 5, 6]), new Float32Array([7, 8, 9, 10, 11, 12]), 2, 2, 3);
    console.log(JSON.stringify(Array.from(c)));`]);
  if (gemm.status !== 0) fail("gemm", gemm);
  return { hook: `${hook.stdout}\n${hook.stderr}`, info: JSON.parse(info.stdout) as RootInfo, gemm: JSON.parse(gemm.stdout) as number[] };
}

beforeAll(async () => {
  manifest = await ensurePrebuilds();
  // Made (first use only: minutes) in a child process, so that this worker stays responsive.
  await execFileAsync(process.execPath, ["-e", `import(${JSON.stringify(join(repoRoot, "scripts", "debianRoot.mjs"))}).then((m) => m.ensureRoot("minbase"))`]);
  root = ensureRoot("minbase").dir;
  work = mkdtempSync(join(tmpdir(), "spogw-debian-"));
  const packed = (await execFileAsync("npm", ["pack", "--silent", "--pack-destination", work], { cwd: repoRoot, encoding: "utf8" })).stdout.trim().split("\n");
  consumer = join(work, "consumer");
  mkdirSync(consumer);
  writeFileSync(join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  // Unpacked here from npm's cache, without running any install script: spogw-native's own hook runs
  // inside the root below. Optional dependencies (node-llama-cpp's prebuilt llama.cpp) are left out.
  await execFileAsync("npm", ["install", "--prefer-offline", "--omit=optional", "--no-audit", "--no-fund", "--ignore-scripts", join(work, packed[packed.length - 1]!)], {
    cwd: consumer, encoding: "utf8", env: { ...process.env, NODE_LLAMA_CPP_SKIP_DOWNLOAD: "true" },
  });
}, 1_800_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe(`the packed package in a Debian 11 root (glibc ${GLIBC_FLOOR}, no compiler)`, () => {
  let run: Awaited<ReturnType<typeof installAndRun>>;
  beforeAll(async () => {
    run = await installAndRun(work);
  }, 600_000);

  it("is Debian 11 with glibc 2.31, with no compiler or build tool", async () => {
    const r = await inRoot(work, ["/bin/sh", "-c",
      "cat /etc/debian_version; node -p 'process.report.getReport().header.glibcVersionRuntime'; for t in cc gcc g++ c++ clang cmake make nvcc ld; do command -v $t || true; done"]);
    expect(r.status, r.stderr).toBe(0);
    const [debian, glibc, ...tools] = r.stdout.trim().split("\n");
    expect(debian).toMatch(/^11\./);
    expect(glibc).toBe(GLIBC_FLOOR);
    expect(tools).toEqual([]);
  });

  it("installs with the prebuilt binaries and loads the CPU one, each CUDA one passed over for want of a driver", () => {
    expect(run.hook).toMatch(/using the prebuilt binaries/);
    expect(run.info.source).toBe("prebuilt-cpu");
    expect(run.info.variant).toBe("cpu");
    expect(run.info.isaBaseline).toBe("x86-64-v2");
    expect(run.info.binaryPath).toBe(`/mnt/consumer/node_modules/spogw-native/prebuilds/${process.platform}-${process.arch}/spogw.cpu.node`);
    for (const v of Object.values(manifest.variants).filter((v) => v.cudaRuntime)) {
      const skipped = run.info.tried.find((t) => t.path.endsWith(`/${v.file}`));
      expect(skipped?.skipped).toBe(`no NVIDIA driver here (CUDA ${v.cudaRuntime} runtime: driver >= ${v.minDriver})`);
    }
    // [[1,2,3],[4,5,6]] x [[7,8],[9,10],[11,12]] = [[58,64],[139,154]]
    expect(run.gemm).toEqual([58, 64, 139, 154]);
  });

  it("runs an engine backward on a tiny model there, matching PyTorch float64 on this machine", async () => {
    const cfg = await writeTinyModel(join(work, "model.gguf"), { arch: "llama", seed: 11, layers: 2, embd: 64, heads: 4, kvHeads: 2, ff: 96, tied: false });
    const seqs = [
      { tokens: [1, 40, 41, 42, 80, 81, 82, 83], start: 4, advantage: 1.3, weight: 0.1 },
      { tokens: [1, 50, 51, 90, 91, 92, 93], start: 3, advantage: -0.8, weight: 0.12 },
    ];
    const loss = { epsilon: 0.2, beta: 0.1, temperature: 1, klMask: "advantage" as const };
    // old/ref log-probs shifted from the engine's own, so ratios leave the clip range and kl != 0.
    const script = `
      import { Engine } from "spogw-native";
      const engine = await Engine.load("/mnt/model.gguf");
      engine.initLora({ rank: 4, alpha: 8, init: "random", seed: 5 });
      const seqs = ${JSON.stringify(seqs)};
      const batch = [];
      for (const s of seqs) {
        const tokens = Int32Array.from(s.tokens);
        const own = await engine.tokenLogprobs(tokens, s.start, 1);
        batch.push({ tokens, responseStart: s.start, advantage: s.advantage, weight: s.weight,
          oldLogp: own.map((v, i) => v + [-0.5, 0.3, 0.05, -0.25][i % 4]), refLogp: own.map((v, i) => v - [0.2, -0.4, 0.1][i % 3]) });
      }
      const result = await engine.backward(batch, ${JSON.stringify(loss)});
      const grads = await engine.loraGradients();
      const adapter = engine.loraAdapter();
      const plain = (a) => Array.from(a);
      console.log(JSON.stringify({ loss: result.loss, grads: Object.fromEntries(Object.entries(grads).map(([k, v]) => [k, plain(v)])),
        adapter: { ...adapter, pairs: adapter.pairs.map((p) => ({ ...p, a: plain(p.a), b: plain(p.b) })) },
        batch: batch.map((b) => ({ oldLogp: plain(b.oldLogp), refLogp: plain(b.refLogp) })) }));`;
    const r = await inRoot(work, ["node", "--input-type=module", "-e", script]);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as {
      loss: number; grads: Record<string, number[]>; batch: Array<{ oldLogp: number[]; refLogp: number[] }>;
      adapter: { arch: string; rank: number; alpha: number; pairs: Array<{ target: string; nIn: number; nOut: number; a: number[]; b: number[] }> };
    };
    const adapter = { ...out.adapter, pairs: out.adapter.pairs.map((p) => ({ ...p, a: Float32Array.from(p.a), b: Float32Array.from(p.b) })) };
    const refBatch: ReferenceBatchItem[] = seqs.map((s, i) => ({ tokens: s.tokens, responseStart: s.start, advantage: s.advantage, weight: s.weight, ...out.batch[i]! }));
    const ref = runTorchReference(join(work, "model.gguf"), adapter, {
      arch: "llama", d: cfg.embd, heads: cfg.heads, kvHeads: cfg.kvHeads, layers: cfg.layers, eps: 1e-5, ropeBase: 10_000,
      epsilon: 0.2, epsilonHigh: 0.2, beta: loss.beta, temperature: loss.temperature, klMask: loss.klMask,
    }, refBatch);
    const refLoss = ref.get("loss")!.data[0]!;
    expect(Math.abs(out.loss - refLoss)).toBeLessThan(1e-4 * Math.max(1, Math.abs(refLoss)));
    expect(Object.keys(out.grads).length).toBe(2 * out.adapter.pairs.length);
    for (const [name, g] of Object.entries(out.grads)) {
      const want = ref.get(`grad.${name.replace(/\.lora_[ab]$/, "")}.${name.endsWith("lora_a") ? "a" : "b"}`)!.data;
      expect(relativeError(g, want), `${name} relative error`).toBeLessThan(1e-3);
    }
  });

  it("loads each CUDA prebuild, which reports no device and runs the CPU paths", async () => {
    const cudaVariants = Object.values(manifest.variants).filter((v) => v.cudaRuntime);
    expect(cudaVariants.map((v) => v.cudaRuntime)).toContain("11.8");
    for (const v of cudaVariants) {
      const env = { SPOGW_NATIVE_BINARY: `node_modules/spogw-native/prebuilds/${process.platform}-${process.arch}/${v.file}` };
      const info = await inRoot(work, [...cli, "info", "--json"], env);
      expect(info.status, info.stderr).toBe(0);
      const i = JSON.parse(info.stdout) as RootInfo;
      const [major, minor] = v.cudaRuntime!.split(".").map(Number);
      expect(i.variant).toBe("cuda");
      expect(i.cuda.compiled).toBe(true);
      expect(i.cuda.runtimeVersion).toBe(major! * 1000 + minor! * 10);
      expect(i.cuda.deviceCount).toBe(0);
      expect(i.cuda.error.length).toBeGreaterThan(0);
      const gemm = await inRoot(work, ["node", "--input-type=module", "-e", `import { gemm } from "spogw-native";
        console.log(JSON.stringify(Array.from(await gemm(new Float32Array([1, 2, 3, 4]), new Float32Array([5, 6, 7, 8]), 2, 2, 2))));`], env);
      expect(gemm.status, gemm.stderr).toBe(0);
      expect(JSON.parse(gemm.stdout)).toEqual([19, 22, 43, 50]);
    }
  });

  it("fails SPOGW_DEVICE=cuda loudly, naming each CUDA prebuild and why", async () => {
    const r = await inRoot(work, [...cli, "info"], { SPOGW_DEVICE: "cuda" });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/SPOGW_DEVICE=cuda but no CUDA binary could be used/);
    for (const v of Object.values(manifest.variants).filter((v) => v.cudaRuntime)) {
      expect(r.stderr).toContain(`${v.file}: no NVIDIA driver here (CUDA ${v.cudaRuntime} runtime`);
    }
  });

  it("fails a forced source build without compilers, naming the log and what to install", async () => {
    const r = await inRoot(work, ["node", "node_modules/spogw-native/scripts/install.mjs"], { SPOGW_BUILD_FROM_SOURCE: "1" });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/a source build was requested/);
    expect(r.stderr).toMatch(/native build failed/);
    expect(r.stderr).toMatch(/Full log: .*build\.log/);
    expect(r.stderr).toMatch(/apt-get install g\+\+ cmake libopenblas-dev/);
  });
});

describe("the same check on a prebuild that needs a newer glibc", () => {
  it("fails, naming the offending symbols", async () => {
    // The CPU prebuild swapped for an addon built with this machine's toolchain, its manifest entry
    // rewritten from objdump as the prebuild script writes it.
    const bad = hostToolchainAddon();
    const symbols = glibcSymbolsAbove(bad, GLIBC_FLOOR);
    expect(symbols.length, `${bad} should need a glibc above ${GLIBC_FLOOR}`).toBeGreaterThan(0);
    const badWork = join(work, "bad");
    cpSync(consumer, join(badWork, "consumer"), { recursive: true, verbatimSymlinks: true });
    const dir = prebuildsIn(join(badWork, "consumer"));
    copyFileSync(bad, join(dir, "spogw.cpu.node"));
    const badManifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as PrebuildManifest;
    const floor = glibcFloor(join(dir, "spogw.cpu.node"));
    badManifest.variants.cpu = { ...badManifest.variants.cpu!, glibc: floor.floor, glibcSymbols: floor.symbols, sha256: sha256(join(dir, "spogw.cpu.node")) } as PrebuildManifest["variants"][string];
    writeFileSync(join(dir, "manifest.json"), JSON.stringify(badManifest));
    let error: Error | undefined;
    try {
      await installAndRun(badWork);
    } catch (e) {
      error = e as Error;
    }
    expect(error, "the check should fail").toBeDefined();
    // The install hook names the symbols that set the floor; the report lists every one above 2.31.
    expect(error!.message).toMatch(new RegExp(`the CPU prebuild needs glibc >= ${floor.floor!.replace(".", "\\.")} \\(${floor.symbols[0]}`));
    for (const s of symbols) expect(error!.message).toContain(s);
  });
});
