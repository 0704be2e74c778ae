#!/usr/bin/env node
// npm "install" hook. Uses the prebuilt binaries in prebuilds/<platform>-<arch>/ when the CPU one fits
// this machine (the CUDA ones are chosen at run time, by the driver); otherwise builds from source with
// cmake-js. SPOGW_BUILD_FROM_SOURCE=1 (or npm's --build-from-source) forces the build. A failed build
// fails the install with the log's location: there is no silent success without a usable binary.
// Whether a prebuild fits is decided by dist/native/platform.js, the code the loader uses at run time.
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { buildNative } from "./buildNative.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const platformDir = join(root, "prebuilds", `${process.platform}-${process.arch}`);
const say = (msg) => process.stderr.write(`spogw-native: ${msg}\n`);

function truthy(v) {
  return v !== undefined && v !== "" && v !== "0" && v.toLowerCase() !== "false";
}

/** Why the prebuilds cannot be used here (null when the CPU one can), plus notes on the CUDA ones. */
async function prebuildProblem() {
  if (!existsSync(join(platformDir, "manifest.json"))) return { problem: `no prebuilt binaries for ${process.platform}-${process.arch}`, notes: [] };
  const checks = join(root, "dist", "native", "platform.js");
  // A package with prebuilds always carries dist/; only a source checkout can lack it.
  if (!existsSync(checks)) return { problem: "dist/ is missing (a source checkout: run `npm run build`)", notes: [] };
  const { hostFacts, readManifest, prebuildProblem: check, cudaVariantsByPreference, cudaDriverVerdict } = await import(pathToFileURL(checks).href);
  const manifest = readManifest(platformDir);
  const host = hostFacts();
  const cpu = manifest.variants.cpu;
  if (!cpu || !existsSync(join(platformDir, cpu.file))) return { problem: "the CPU prebuild is missing from the package", notes: [] };
  const problem = check(cpu, host);
  if (problem) return { problem: `the CPU prebuild ${problem}`, notes: [] };
  const notes = [];
  if (host.nvidiaDriverVisible) {
    for (const [name, variant] of cudaVariantsByPreference(manifest)) {
      const verdict = cudaDriverVerdict(variant, { version: host.nvidiaDriver, cudaVersion: null });
      notes.push(`${name}: ${verdict.ok ? "usable" : "not usable"} (${verdict.why})`);
    }
  }
  return { problem: null, notes };
}

const forced = truthy(process.env.SPOGW_BUILD_FROM_SOURCE) || truthy(process.env.npm_config_build_from_source);
const { problem, notes } = forced ? { problem: "a source build was requested", notes: [] } : await prebuildProblem();
if (problem === null) {
  say(`using the prebuilt binaries in ${platformDir}`);
  for (const note of notes) say(`  ${note}`);
} else {
  say(`${problem}; building the native addon from source`);
  try {
    buildNative({});
  } catch (e) {
    say(`${e.message}\n` +
      "Install a C++ compiler, cmake and libopenblas-dev (Debian/Ubuntu: apt-get install g++ cmake libopenblas-dev), " +
      "then run `npx spogw-native build`.");
    process.exit(1);
  }
}
