// The shipped CPU binary is self-contained, and the packed tarball installs and runs on a machine
// with no compiler on PATH by loading that prebuild.
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureCpuPrebuild, repoRoot } from "../helpers/prebuilds.js";

describe("CPU prebuild", () => {
  it("links nothing beyond the system C runtime (no OpenBLAS, OpenMP or libstdc++)", () => {
    const binary = ensureCpuPrebuild();
    const ldd = execFileSync("ldd", [binary], { encoding: "utf8" });
    const libs = ldd.split("\n").map((l) => l.trim().split(/\s+/)[0] ?? "").filter(Boolean);
    expect(libs.length).toBeGreaterThan(0);
    const allowed = /^(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|\/lib64\/ld-linux-x86-64\.so\.2)$/;
    expect(libs.filter((l) => !allowed.test(l))).toEqual([]);
    expect(ldd).not.toMatch(/openblas|gomp|stdc\+\+|gfortran/);
  });
});

describe("npm pack tarball on a machine without compilers", () => {
  let work: string;
  let tarball: string;
  let consumer: string;
  let bareEnv: NodeJS.ProcessEnv;
  const npmCli = join(process.execPath, "..", "..", "lib", "node_modules", "npm", "bin", "npm-cli.js");

  beforeAll(() => {
    ensureCpuPrebuild();
    work = mkdtempSync(join(tmpdir(), "spogw-pack-"));
    const packed = execFileSync("npm", ["pack", "--silent", "--pack-destination", work], { cwd: repoRoot, encoding: "utf8" }).trim().split("\n");
    tarball = join(work, packed[packed.length - 1]!);
    // PATH holds node and a shell (npm runs install scripts through sh) and nothing else: no cc, g++,
    // cmake, make or nvcc can be found.
    const bin = join(work, "bin");
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, "node"));
    symlinkSync("/bin/sh", join(bin, "sh"));
    bareEnv = {
      HOME: process.env.HOME,
      PATH: bin,
      npm_config_cache: process.env.npm_config_cache,
      // node-llama-cpp's own postinstall must not try to fetch or build llama.cpp in this test.
      NODE_LLAMA_CPP_SKIP_DOWNLOAD: "true",
      CC: "/nonexistent/cc",
      CXX: "/nonexistent/c++",
    };
    consumer = join(work, "consumer");
    mkdirSync(consumer);
    writeFileSync(join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  }, 120_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("has no compiler on the test PATH", () => {
    for (const tool of ["cc", "g++", "cmake", "make"]) {
      const r = spawnSync("/bin/sh", ["-c", `command -v ${tool}`], { env: bareEnv });
      expect(r.status, `${tool} should not be found`).not.toBe(0);
    }
  });

  it("installs from the tarball using the prebuilt binary and runs info() and gemm()", () => {
    expect(existsSync(npmCli)).toBe(true);
    const npm = (args: string[]) =>
      spawnSync(process.execPath, [npmCli, ...args], { cwd: consumer, env: bareEnv, encoding: "utf8", timeout: 280_000 });
    // Dependencies' own install scripts are left out: better-sqlite3 downloads a prebuilt binary from
    // GitHub at install time, which this offline machine cannot reach, so its binary is copied from
    // this checkout instead (what the download would have provided). spogw-native's own install hook
    // then runs for real, through `npm rebuild`, with no compiler on PATH.
    const install = npm(["install", "--prefer-offline", "--omit=optional", "--no-audit", "--no-fund", "--ignore-scripts", tarball]);
    expect(install.status, `${install.stdout}\n${install.stderr}`).toBe(0);
    const sqliteBinary = join("node_modules", "better-sqlite3", "build", "Release", "better_sqlite3.node");
    mkdirSync(join(consumer, dirname(sqliteBinary)), { recursive: true });
    copyFileSync(join(repoRoot, sqliteBinary), join(consumer, sqliteBinary));
    const hook = npm(["rebuild", "spogw-native", "--foreground-scripts"]);
    const output = `${hook.stdout}\n${hook.stderr}`;
    expect(hook.status, output).toBe(0);
    expect(output).toMatch(/using the prebuilt binary/);
    const pkgDir = join(consumer, "node_modules", "spogw-native");
    expect(readdirSync(pkgDir)).not.toContain("build");
    expect(existsSync(join(pkgDir, "native", "build"))).toBe(false);

    const script = `
      import { info, gemm } from "spogw-native";
      const i = info();
      const c = await gemm(new Float32Array([1, 2, 3, 4, 5, 6]), new Float32Array([7, 8, 9, 10, 11, 12]), 2, 2, 3);
      console.log(JSON.stringify({ source: i.source, variant: i.variant, isa: i.isaBaseline, path: i.binaryPath, c: Array.from(c) }));`;
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: consumer, env: bareEnv, encoding: "utf8" });
    expect(run.status, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout.trim().split("\n").pop()!) as { source: string; variant: string; isa: string; path: string; c: number[] };
    expect(result.source).toBe("prebuilt-cpu");
    expect(result.isa).toBe("x86-64-v2");
    expect(result.path).toContain(join("node_modules", "spogw-native", "prebuilds"));
    // [[1,2,3],[4,5,6]] x [[7,8],[9,10],[11,12]] = [[58,64],[139,154]]
    expect(result.c).toEqual([58, 64, 139, 154]);
  }, 300_000);

  it("fails a forced source build without compilers, naming the log and what to install", () => {
    const installScript = join(consumer, "node_modules", "spogw-native", "scripts", "install.mjs");
    const r = spawnSync(process.execPath, [installScript], {
      cwd: join(consumer, "node_modules", "spogw-native"),
      env: { ...bareEnv, SPOGW_BUILD_FROM_SOURCE: "1" },
      encoding: "utf8",
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/a source build was requested/);
    expect(r.stderr).toMatch(/native build failed/);
    expect(r.stderr).toMatch(/Full log: .*build\.log/);
    expect(r.stderr).toMatch(/apt-get install g\+\+ cmake libopenblas-dev/);
  });
});
