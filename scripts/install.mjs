#!/usr/bin/env node
// npm "install" hook. Uses a prebuilt binary from prebuilds/<platform>-<arch>/ when one fits this
// machine; otherwise builds from source with cmake-js. SPOGW_BUILD_FROM_SOURCE=1 (or npm's
// --build-from-source) forces the build. A failed build fails the install with the log's location:
// there is no silent success without a usable binary.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { buildNative } from "./buildNative.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const platformDir = join(root, "prebuilds", `${process.platform}-${process.arch}`);

function truthy(v) {
  return v !== undefined && v !== "" && v !== "0" && v.toLowerCase() !== "false";
}

function versionAtLeast(a, b) {
  const pa = a.split(".").map(Number), pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) > (pb[i] ?? 0);
  return true;
}

/** Why the CPU prebuild cannot be used here, or null when it can. */
function prebuildProblem() {
  const cpu = join(platformDir, "spogw.cpu.node");
  if (!existsSync(cpu)) return `no prebuilt binary for ${process.platform}-${process.arch}`;
  const manifestPath = join(platformDir, "manifest.json");
  if (existsSync(manifestPath)) {
    const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
    const glibc = process.report?.getReport()?.header?.glibcVersionRuntime;
    if (manifest.glibc && (!glibc || !versionAtLeast(glibc, manifest.glibc))) {
      return `the prebuilt binary needs glibc >= ${manifest.glibc}; this system has ${glibc ?? "no glibc"}`;
    }
  }
  if (process.arch === "x64" && existsSync("/proc/cpuinfo")) {
    const flags = readFileSync("/proc/cpuinfo", "utf8").split("\n").find((l) => l.startsWith("flags")) ?? "";
    const missing = ["sse4_2", "popcnt"].filter((f) => !flags.includes(f));
    if (missing.length) return `this CPU lacks ${missing.join(", ")} (x86-64-v2) needed by the prebuilt binary`;
  }
  return null;
}

const forced = truthy(process.env.SPOGW_BUILD_FROM_SOURCE) || truthy(process.env.npm_config_build_from_source);
const problem = forced ? "a source build was requested" : prebuildProblem();
if (problem === null) {
  process.stderr.write(`spogw-native: using the prebuilt binary in ${platformDir}\n`);
} else {
  process.stderr.write(`spogw-native: ${problem}; building the native addon from source\n`);
  try {
    buildNative({});
  } catch (e) {
    process.stderr.write(`spogw-native: ${e.message}\n` +
      "Install a C++ compiler, cmake and libopenblas-dev (Debian/Ubuntu: apt-get install g++ cmake libopenblas-dev), " +
      "then run `npx spogw-native build`.\n");
    process.exit(1);
  }
}
