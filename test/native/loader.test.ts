// Loader policy, observed from fresh processes (the binding is loaded once per process): explicit
// overrides, thread settings and the CUDA variant on a machine without a GPU.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { builtCli } from "../helpers/cli.js";
import { cudaPrebuild, ensureCpuPrebuild, ensureCudaPrebuild, repoRoot } from "../helpers/prebuilds.js";

/** The built CLI with `env` added to this process's environment, until it exits. */
function runCli(args: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, [builtCli(), ...args], { cwd: repoRoot, env: { ...process.env, ...env }, encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function infoJson(env: Record<string, string>) {
  const r = runCli(["info", "--json"], env);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as {
    source: string; variant: string; binaryPath: string; threads: number; isaBaseline: string;
    cuda: { compiled: boolean; deviceCount: number; error: string; runtimeVersion: number; cublas: string };
  };
}

describe("native loader", () => {
  it("loads the file named by SPOGW_NATIVE_BINARY and says so", () => {
    const cpu = ensureCpuPrebuild();
    const i = infoJson({ SPOGW_NATIVE_BINARY: cpu });
    expect(i.source).toBe("override");
    expect(i.binaryPath).toBe(cpu);
    expect(i.variant).toBe("cpu");
    expect(i.isaBaseline).toBe("x86-64-v2");
  });

  it("runs the CUDA variant's CPU paths on a machine with no usable GPU and reports why there is none", () => {
    ensureCudaPrebuild();
    const i = infoJson({ SPOGW_NATIVE_BINARY: cudaPrebuild });
    expect(i.variant).toBe("cuda");
    expect(i.cuda.compiled).toBe(true);
    expect(i.cuda.runtimeVersion).toBeGreaterThanOrEqual(12000);
    if (i.cuda.deviceCount === 0) expect(i.cuda.error.length).toBeGreaterThan(0);
    const script = `import { gemm } from ${JSON.stringify(join(repoRoot, "dist", "index.js"))};
      const c = await gemm(new Float32Array([1, 2, 3, 4]), new Float32Array([5, 6, 7, 8]), 2, 2, 2);
      console.log(JSON.stringify(Array.from(c)));`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      env: { ...process.env, SPOGW_NATIVE_BINARY: cudaPrebuild }, encoding: "utf8",
    });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([19, 22, 43, 50]);
  });

  it("sets the thread count explicitly from SPOGW_THREADS", () => {
    expect(infoJson({ SPOGW_THREADS: "1" }).threads).toBe(1);
  });

  it("names the problem when the override or settings are wrong", () => {
    const missing = runCli(["info"], { SPOGW_NATIVE_BINARY: "/nonexistent/spogw.node" });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/SPOGW_NATIVE_BINARY=\/nonexistent\/spogw\.node: no such file/);
    const notAddon = runCli(["info"], { SPOGW_NATIVE_BINARY: join(repoRoot, "package.json") });
    expect(notAddon.status).toBe(1);
    expect(notAddon.stderr).toMatch(/could not be loaded/);
    const badDevice = runCli(["info"], { SPOGW_DEVICE: "tpu" });
    expect(badDevice.stderr).toMatch(/SPOGW_DEVICE must be "cpu" or "cuda"/);
    const badThreads = runCli(["info"], { SPOGW_THREADS: "two" });
    expect(badThreads.stderr).toMatch(/SPOGW_THREADS must be a positive whole number/);
  });
});

describe("cli", () => {
  it("prints help listing the commands, and rejects unknown ones", () => {
    const help = runCli(["--help"], {});
    expect(help.status).toBe(0);
    for (const cmd of ["info", "build", "bench"]) expect(help.stdout).toContain(`spogw-native ${cmd}`);
    const unknown = runCli(["frobnicate"], {});
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/Unknown argument|Unknown command/i);
  });

  it("info prints which binary was loaded and why", () => {
    const r = runCli(["info"], {});
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/binary\s+\/.+spogw\.(cpu\.|cuda\.)?node/);
    expect(r.stdout).toMatch(/chosen because\s+\S+/);
    expect(r.stdout).toMatch(/BLAS core\s+\S+/);
  });
});
