// Facts about this machine that decide which prebuilt binary can run here: platform/arch folder name,
// glibc version, x86-64-v2 support and whether an NVIDIA driver is present at all.
import { existsSync, readFileSync } from "node:fs";

/** Folder under prebuilds/ for this platform, e.g. "linux-x64". */
export function prebuildPlatform(): string {
  return `${process.platform}-${process.arch}`;
}

/** glibc version of this process ("2.36"), or null on musl / non-Linux. */
export function glibcVersion(): string | null {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return report?.header?.glibcVersionRuntime ?? null;
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

/** Missing CPU flags needed by an x86-64-v2 binary (empty when all present or not readable). */
export function missingX8664V2Flags(): string[] {
  if (process.arch !== "x64") return [];
  let cpuinfo: string;
  try {
    cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  } catch {
    return [];
  }
  const flagsLine = cpuinfo.split("\n").find((l) => l.startsWith("flags"));
  if (!flagsLine) return [];
  const flags = new Set(flagsLine.split(":")[1]?.trim().split(/\s+/) ?? []);
  return ["sse4_2", "popcnt", "ssse3", "cx16"].filter((f) => !flags.has(f));
}

/** Cheap check before probing the CUDA binary: is an NVIDIA driver visible at all? */
export function nvidiaDriverVisible(): boolean {
  return existsSync("/dev/nvidiactl") || existsSync("/proc/driver/nvidia/version");
}
