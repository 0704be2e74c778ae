// Which prebuild the loader picks, on machines this one is not: glibc, CPU features and NVIDIA drivers
// are injected. Expectations come from NVIDIA's minor-version-compatibility table (a CUDA 13.x runtime
// needs a driver >= 580, 11.x one >= 450.80.02) and from the order the loader promises: CUDA 13, then
// CUDA 11.8, then the CPU prebuild.
import { describe, expect, it } from "vitest";
import {
  cudaDriverVerdict, parseNvidiaDriverVersion, prebuildCandidates, prebuildProblem,
  type CudaProbe, type DriverFacts, type HostFacts, type PrebuildManifest,
} from "../../src/native/platform.js";

const V2_FLAGS = ["cx16", "lahf_lm", "popcnt", "pni", "sse4_1", "sse4_2", "ssse3", "avx", "avx2", "fma"];

const manifest: PrebuildManifest = {
  napi: 8,
  platform: "linux-x64",
  glibc: "2.29",
  variants: {
    cpu: { file: "spogw.cpu.node", glibc: "2.29", glibcSymbols: ["log@GLIBC_2.29"], isa: "x86-64-v2" },
    cuda11: { file: "spogw.cuda11.node", glibc: "2.29", isa: "x86-64-v2", cudaRuntime: "11.8", minDriver: "450.80.02" },
    cuda: { file: "spogw.cuda.node", glibc: "2.29", isa: "x86-64-v2", cudaRuntime: "13.0", minDriver: "580" },
  },
};

function host(over: Partial<HostFacts> = {}): HostFacts {
  return { platform: "linux-x64", glibc: "2.31", cpuFlags: new Set(V2_FLAGS), nvidiaDriver: null, nvidiaDriverVisible: false, ...over };
}

/** Runs the candidate generator to the end with scripted probes; returns the order and the skips. */
function candidates(h: HostFacts, probes: Record<string, CudaProbe>, device?: "cpu" | "cuda") {
  const skipped: Record<string, string> = {};
  const probed: string[] = [];
  const driver: DriverFacts = { version: h.nvidiaDriver, cudaVersion: null };
  const picked = [...prebuildCandidates(manifest, h, {
    device,
    exists: () => true,
    probe: (file) => {
      probed.push(file);
      const p = probes[file];
      if (!p) throw new Error(`unexpected probe of ${file}`);
      return p;
    },
    skip: (file, why) => (skipped[file] = why),
    driver,
  })].map((c) => c.name);
  return { picked, skipped, probed, driver };
}

const noDevice = (driverVersion: number): CudaProbe => ({ devices: 0, why: "CUDA driver version is insufficient for CUDA runtime version", driverVersion });
const oneDevice = (driverVersion: number): CudaProbe => ({ devices: 1, why: "", driverVersion });

describe("driver version from /proc/driver/nvidia/version", () => {
  it("reads the proprietary and the open kernel module's lines", () => {
    expect(parseNvidiaDriverVersion("NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023\nGCC version:  gcc version 11.4.0")).toBe("535.104.05");
    expect(parseNvidiaDriverVersion("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.65.06  Release Build  (dvs-builder@U16-I3-B03-4-3)")).toBe("580.65.06");
    expect(parseNvidiaDriverVersion("garbage")).toBeNull();
  });
});

describe("a CUDA variant against the driver", () => {
  const cuda13 = manifest.variants.cuda!;
  const cuda11 = manifest.variants.cuda11!;
  it("decides by the CUDA version the driver reports, within a major version", () => {
    expect(cudaDriverVerdict(cuda13, { version: null, cudaVersion: 13000 }).ok).toBe(true);
    expect(cudaDriverVerdict(cuda13, { version: null, cudaVersion: 13020 }).ok).toBe(true);
    expect(cudaDriverVerdict(cuda13, { version: null, cudaVersion: 12080 }).ok).toBe(false); // driver 570
    expect(cudaDriverVerdict(cuda11, { version: null, cudaVersion: 11040 }).ok).toBe(true); // driver 470 runs 11.8 (minor compatibility)
    expect(cudaDriverVerdict(cuda11, { version: null, cudaVersion: 12020 }).ok).toBe(true);
    expect(cudaDriverVerdict(cuda11, { version: null, cudaVersion: 10020 }).ok).toBe(false);
  });

  it("falls back to the driver version's minimum when the CUDA version is unknown", () => {
    expect(cudaDriverVerdict(cuda13, { version: "580.65.06", cudaVersion: null }).ok).toBe(true);
    expect(cudaDriverVerdict(cuda13, { version: "575.57.08", cudaVersion: null }).ok).toBe(false);
    expect(cudaDriverVerdict(cuda11, { version: "450.80.02", cudaVersion: null }).ok).toBe(true);
    expect(cudaDriverVerdict(cuda11, { version: "450.36.06", cudaVersion: null }).ok).toBe(false);
    expect(cudaDriverVerdict(cuda11, { version: "535.104.05", cudaVersion: null }).ok).toBe(true);
  });

  it("says what the variant needs and what the driver has", () => {
    const v = cudaDriverVerdict(cuda13, { version: "535.104.05", cudaVersion: 12020 });
    expect(v.why).toBe("CUDA 13.0 runtime: driver >= 580; this driver 535.104.05, supports CUDA 12.2");
    expect(cudaDriverVerdict(cuda13, { version: null, cudaVersion: null })).toEqual({ ok: true, why: expect.stringMatching(/unknown, so loading it decides/) });
  });
});

describe("glibc and CPU checks", () => {
  it("accepts a newer glibc and names the symbols when it is too old", () => {
    expect(prebuildProblem(manifest.variants.cpu!, host({ glibc: "2.31" }))).toBeNull();
    expect(prebuildProblem(manifest.variants.cpu!, host({ glibc: "2.29" }))).toBeNull();
    expect(prebuildProblem(manifest.variants.cpu!, host({ glibc: "2.28" }))).toBe("needs glibc >= 2.29 (log@GLIBC_2.29); this system has glibc 2.28");
    expect(prebuildProblem(manifest.variants.cpu!, host({ glibc: null }))).toMatch(/this system has no glibc/);
  });

  it("names the x86-64-v2 features a CPU lacks", () => {
    const old = host({ cpuFlags: new Set(["cx16", "lahf_lm", "pni", "ssse3"]) });
    expect(prebuildProblem(manifest.variants.cpu!, old)).toBe("needs a CPU with x86-64-v2 (this one lacks popcnt, sse4_1, sse4_2)");
  });
});

describe("the order the loader tries prebuilds in", () => {
  it("without a driver: the CPU prebuild, each CUDA variant passed over with its requirement", () => {
    const r = candidates(host(), {});
    expect(r.picked).toEqual(["cpu"]);
    expect(r.probed).toEqual([]);
    expect(r.skipped["spogw.cuda.node"]).toBe("no NVIDIA driver here (CUDA 13.0 runtime: driver >= 580)");
    expect(r.skipped["spogw.cuda11.node"]).toBe("no NVIDIA driver here (CUDA 11.8 runtime: driver >= 450.80.02)");
  });

  it("with a 580 driver and a GPU: CUDA 13 first, then CUDA 11.8, then the CPU", () => {
    const r = candidates(host({ nvidiaDriver: "580.65.06", nvidiaDriverVisible: true }), {
      "spogw.cuda.node": oneDevice(13000), "spogw.cuda11.node": oneDevice(13000),
    });
    expect(r.picked).toEqual(["cuda", "cuda11", "cpu"]);
    expect(r.driver).toEqual({ version: "580.65.06", cudaVersion: 13000 });
  });

  it("with a 535 driver: CUDA 13 ruled out from /proc without loading it, CUDA 11.8 chosen", () => {
    const r = candidates(host({ nvidiaDriver: "535.104.05", nvidiaDriverVisible: true }), { "spogw.cuda11.node": oneDevice(12020) });
    expect(r.picked).toEqual(["cuda11", "cpu"]);
    expect(r.probed).toEqual(["spogw.cuda11.node"]);
    expect(r.skipped["spogw.cuda.node"]).toBe("CUDA 13.0 runtime: driver >= 580; this driver 535.104.05");
  });

  it("when /proc has no version (a container with only /dev/nvidiactl): the probe's CUDA version decides", () => {
    const r = candidates(host({ nvidiaDriverVisible: true }), { "spogw.cuda.node": noDevice(12080), "spogw.cuda11.node": oneDevice(12080) });
    expect(r.picked).toEqual(["cuda11", "cpu"]);
    expect(r.skipped["spogw.cuda.node"]).toBe("CUDA 13.0 runtime: driver >= 580; this supports CUDA 12.8");
  });

  it("with a driver too old for both runtimes, or no device: the CPU prebuild", () => {
    const old = candidates(host({ nvidiaDriver: "450.36.06", nvidiaDriverVisible: true }), {});
    expect(old.picked).toEqual(["cpu"]);
    expect(old.skipped["spogw.cuda11.node"]).toBe("CUDA 11.8 runtime: driver >= 450.80.02; this driver 450.36.06");
    const empty = candidates(host({ nvidiaDriver: "580.65.06", nvidiaDriverVisible: true }), {
      "spogw.cuda.node": { devices: 0, why: "no CUDA-capable device is detected", driverVersion: 13000 },
      "spogw.cuda11.node": { devices: 0, why: "no CUDA-capable device is detected", driverVersion: 13000 },
    });
    expect(empty.picked).toEqual(["cpu"]);
    expect(empty.skipped["spogw.cuda11.node"]).toBe("no usable CUDA device: no CUDA-capable device is detected");
  });

  it("follows SPOGW_DEVICE and the glibc floor", () => {
    const gpu = host({ nvidiaDriver: "580.65.06", nvidiaDriverVisible: true });
    expect(candidates(gpu, {}, "cpu").picked).toEqual(["cpu"]);
    expect(candidates(host(), {}, "cuda").picked).toEqual([]);
    const oldGlibc = candidates(host({ glibc: "2.28", nvidiaDriver: "580.65.06", nvidiaDriverVisible: true }), {});
    expect(oldGlibc.picked).toEqual([]);
    expect(Object.values(oldGlibc.skipped)).toEqual(Array(3).fill(expect.stringMatching(/^needs glibc >= 2\.29.*this system has glibc 2\.28$/)));
  });
});
