// The one place that decides whether a prebuilt binary can run here: facts about this machine (glibc,
// CPU features, NVIDIA driver) and pure checks of a prebuild's manifest entry against them. The loader
// (loadBinding.ts) and the npm install hook (scripts/install.mjs, through dist/) both use it, so the
// two never disagree. The checks take the facts as arguments, so tests inject any machine.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** prebuilds/<platform>-<arch>/manifest.json, written by scripts/prebuild.mjs. */
export interface PrebuildManifest {
  napi: number;
  platform: string;
  /** Highest glibc any file needs. */
  glibc: string | null;
  variants: Record<string, PrebuildVariant>;
}

export interface PrebuildVariant {
  file: string;
  bytes?: number;
  sha256?: string;
  /** glibc the file needs (highest GLIBC_x.y symbol version, read with objdump). */
  glibc: string | null;
  /** The symbols that need that version ("log@GLIBC_2.29"). */
  glibcSymbols?: string[];
  /** -march of the file's own code. */
  isa: string;
  /** CUDA runtime linked into a CUDA variant ("13.0"), and the oldest Linux driver it runs on. */
  cudaRuntime?: string;
  minDriver?: string | null;
  cudaArchitectures?: string[];
}

export interface HostFacts {
  /** e.g. "linux-x64" */
  platform: string;
  /** glibc of this process, null on musl or non-Linux. */
  glibc: string | null;
  /** /proc/cpuinfo flags, null when unreadable (then CPU features are not checked). */
  cpuFlags: ReadonlySet<string> | null;
  /** NVIDIA kernel driver version from /proc/driver/nvidia/version ("580.65.06"), null when absent. */
  nvidiaDriver: string | null;
  /** /dev/nvidiactl or /proc/driver/nvidia exists. */
  nvidiaDriverVisible: boolean;
}

/** What the driver supports: its version and the CUDA version it reports (cuDriverGetVersion, 12020). */
export interface DriverFacts {
  version: string | null;
  cudaVersion: number | null;
}

/** Folder under prebuilds/ for this platform, e.g. "linux-x64". */
export function prebuildPlatform(): string {
  return `${process.platform}-${process.arch}`;
}

/** a >= b for dotted version strings. */
export function versionAtLeast(a: string, b: string): boolean {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? 0;
    const y = pb[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

/** /proc/cpuinfo flag names an -march level needs (GCC's definitions of the x86-64 levels). */
const ISA_FLAGS: Record<string, string[]> = {
  "x86-64-v2": ["cx16", "lahf_lm", "popcnt", "pni", "sse4_1", "sse4_2", "ssse3"],
};

/** The driver version in /proc/driver/nvidia/version's text ("... Kernel Module  580.65.06  ..."). */
export function parseNvidiaDriverVersion(text: string): string | null {
  return text.match(/Kernel Module(?: for \S+)?\s+(\d+\.\d+(?:\.\d+)?)/)?.[1] ?? null;
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

export function hostFacts(): HostFacts {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  const cpuinfo = process.platform === "linux" ? readText("/proc/cpuinfo") : null;
  const flagsLine = cpuinfo?.split("\n").find((l) => l.startsWith("flags"));
  const driverText = readText("/proc/driver/nvidia/version");
  return {
    platform: prebuildPlatform(),
    glibc: report?.header?.glibcVersionRuntime ?? null,
    cpuFlags: flagsLine ? new Set(flagsLine.split(":")[1]?.trim().split(/\s+/) ?? []) : null,
    nvidiaDriver: driverText ? parseNvidiaDriverVersion(driverText) : null,
    nvidiaDriverVisible: driverText !== null || existsSync("/dev/nvidiactl"),
  };
}

/** The manifest in `dir` (default: this package's prebuilds for this platform); null when absent. Throws when unreadable. */
export function readManifest(dir: string): PrebuildManifest | null {
  const path = join(dir, "manifest.json");
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, "utf8")) as PrebuildManifest;
  } catch (e) {
    throw new Error(`${path} is not valid JSON (${(e as Error).message}): reinstall the package`);
  }
}

/** Why `variant` cannot run on `host` (glibc, CPU features), or null when it can. */
export function prebuildProblem(variant: PrebuildVariant, host: HostFacts): string | null {
  if (variant.glibc && (!host.glibc || !versionAtLeast(host.glibc, variant.glibc))) {
    const symbols = variant.glibcSymbols?.length ? ` (${variant.glibcSymbols.slice(0, 8).join(", ")})` : "";
    return `needs glibc >= ${variant.glibc}${symbols}; this system has ${host.glibc ? `glibc ${host.glibc}` : "no glibc"}`;
  }
  const needed = ISA_FLAGS[variant.isa];
  if (needed && host.cpuFlags) {
    const missing = needed.filter((f) => !host.cpuFlags!.has(f));
    if (missing.length) return `needs a CPU with ${variant.isa} (this one lacks ${missing.join(", ")})`;
  }
  return null;
}

/** "12.2" for 12020. */
export function formatCudaVersion(v: number): string {
  return `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}`;
}

/** What a CUDA variant asks of the driver, in words: "CUDA 13.0 runtime: driver >= 580". */
export function cudaRequirement(variant: PrebuildVariant): string {
  return `CUDA ${variant.cudaRuntime ?? "?"} runtime: driver >= ${variant.minDriver ?? "?"}`;
}

/**
 * Whether the driver can run a CUDA variant. The driver's own CUDA version decides when known: a
 * runtime runs on any driver of its major version or newer (minor version compatibility), so CUDA 13.0
 * needs a driver reporting >= 13.0 and CUDA 11.8 one reporting >= 11.0. Without it, the driver version
 * from /proc is compared with the variant's minimum. With neither, only loading it can tell.
 */
export function cudaDriverVerdict(variant: PrebuildVariant, driver: DriverFacts): { ok: boolean; why: string } {
  const needs = cudaRequirement(variant);
  const has = [driver.version && `driver ${driver.version}`, driver.cudaVersion && `supports CUDA ${formatCudaVersion(driver.cudaVersion)}`]
    .filter(Boolean).join(", ");
  if (driver.cudaVersion) {
    const major = Number((variant.cudaRuntime ?? "").split(".")[0]);
    return { ok: Math.floor(driver.cudaVersion / 1000) >= major, why: `${needs}; this ${has}` };
  }
  if (driver.version && variant.minDriver) {
    return { ok: versionAtLeast(driver.version, variant.minDriver), why: `${needs}; this ${has}` };
  }
  return { ok: true, why: `${needs}; the driver's version is unknown, so loading it decides` };
}

/** The manifest's CUDA variants, newest runtime first: the order the loader tries them in. */
export function cudaVariantsByPreference(manifest: PrebuildManifest): Array<[string, PrebuildVariant]> {
  return Object.entries(manifest.variants)
    .filter(([, v]) => v.cudaRuntime)
    .sort(([, a], [, b]) => (versionAtLeast(a.cudaRuntime!, b.cudaRuntime!) ? (a.cudaRuntime === b.cudaRuntime ? 0 : -1) : 1));
}

/** What a child process that loaded a CUDA binary reported. */
export interface CudaProbe {
  devices: number;
  /** Why there is no device, when there is none. */
  why: string;
  /** cudaDriverGetVersion: the CUDA version the driver supports (0 when no driver could be loaded). */
  driverVersion: number;
}

export interface PrebuildCandidate {
  name: string;
  file: string;
  source: "prebuilt-cuda" | "prebuilt-cpu";
  reason: string;
}

/** How candidates are examined; the loader passes the real file system and child-process probe. */
export interface CandidateContext {
  /** SPOGW_DEVICE */
  device?: "cpu" | "cuda";
  exists(file: string): boolean;
  probe(file: string): CudaProbe;
  /** Records a prebuild that is passed over, and why. */
  skip(file: string, why: string): void;
  /** Filled in as probes report the driver's CUDA version. */
  driver: DriverFacts;
}

/**
 * The prebuilds worth loading on `host`, best first: each CUDA variant (newest runtime first) whose
 * glibc and CPU needs are met, whose runtime the driver supports and whose probe finds a device; then
 * the CPU variant unless SPOGW_DEVICE=cuda. Everything passed over goes to ctx.skip with the reason.
 */
export function* prebuildCandidates(manifest: PrebuildManifest, host: HostFacts, ctx: CandidateContext): Generator<PrebuildCandidate> {
  for (const [name, variant] of cudaVariantsByPreference(manifest)) {
    const problem = prebuildProblem(variant, host);
    const early = ctx.device === "cpu" ? "SPOGW_DEVICE=cpu"
      : !ctx.exists(variant.file) ? "missing from the package"
      : problem ? problem
      : !host.nvidiaDriverVisible ? `no NVIDIA driver here (${cudaRequirement(variant)})`
      : null;
    if (early) {
      ctx.skip(variant.file, early);
      continue;
    }
    // The driver's /proc version can rule a variant out without loading it; otherwise the probe reads
    // the CUDA version the driver supports and counts devices.
    const before = cudaDriverVerdict(variant, ctx.driver);
    if (!before.ok) {
      ctx.skip(variant.file, before.why);
      continue;
    }
    const probe = ctx.probe(variant.file);
    if (probe.driverVersion) ctx.driver.cudaVersion = probe.driverVersion;
    const verdict = cudaDriverVerdict(variant, ctx.driver);
    if (!verdict.ok) ctx.skip(variant.file, verdict.why);
    else if (probe.devices === 0) ctx.skip(variant.file, `no usable CUDA device: ${probe.why}`);
    else yield { name, file: variant.file, source: "prebuilt-cuda", reason: `the ${name} prebuild: ${probe.devices} device(s); ${verdict.why}` };
  }
  if (ctx.device === "cuda") return;
  const cpu = manifest.variants.cpu;
  if (!cpu) return;
  const problem = prebuildProblem(cpu, host);
  if (!ctx.exists(cpu.file)) ctx.skip(cpu.file, "missing from the package");
  else if (problem) ctx.skip(cpu.file, problem);
  else yield { name: "cpu", file: cpu.file, source: "prebuilt-cpu", reason: `CPU prebuild (portable ${cpu.isa} baseline, glibc >= ${cpu.glibc ?? "?"})` };
}
