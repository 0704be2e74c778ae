// Every shipped prebuild asks no more of the system than glibc 2.31 (Debian 11, Ubuntu 20.04) and the
// C runtime's own libraries, read back from the files with objdump; the manifest says the same.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { GLIBC_FLOOR } from "../../scripts/debianRoot.mjs";
import { glibcFloor, glibcSymbolsAbove, importedSymbolVersions, neededLibraries, sha256 } from "../../scripts/elfFacts.mjs";
import { ensurePrebuilds, expectedVariants, hostToolchainAddon, prebuildDir } from "../helpers/prebuilds.js";

/** glibc's own libraries; libstdc++ and libgcc are linked statically. */
const ALLOWED_LIBRARIES = ["libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1", "ld-linux-x86-64.so.2"];

// Collected before the tests are: one test per shipped file (CI builds them first; see ensurePrebuilds).
const manifest = await ensurePrebuilds();
const variants = Object.entries(manifest.variants);

describe("prebuilds", () => {

  it("are the CPU build, CUDA 11.8 and (where nvcc is) CUDA 13, each with its runtime and driver floor", () => {
    expect(variants.map(([name]) => name).sort()).toEqual(expectedVariants().sort());
    expect(manifest.variants.cuda11).toMatchObject({ cudaRuntime: "11.8", minDriver: "450.80.02" });
    if (manifest.variants.cuda) expect(manifest.variants.cuda).toMatchObject({ cudaRuntime: expect.stringMatching(/^13\./), minDriver: "580" });
  });

  for (const [name, v] of variants) {
    it(`${name}: no glibc symbol above ${GLIBC_FLOOR}, no other library than the C runtime's, manifest true to the file`, () => {
      const file = join(prebuildDir, v.file);
      expect(glibcSymbolsAbove(file, GLIBC_FLOOR), `${v.file} needs a newer glibc than ${GLIBC_FLOOR}`).toEqual([]);
      expect([...new Set(importedSymbolVersions(file).map((s) => s.library))], "only glibc symbol versions (no GLIBCXX, CXXABI, GCC)").toEqual(["GLIBC"]);
      expect(neededLibraries(file).filter((l) => !ALLOWED_LIBRARIES.includes(l))).toEqual([]);
      const floor = glibcFloor(file);
      expect(v.glibc).toBe(floor.floor);
      expect(v.glibcSymbols).toEqual(floor.symbols);
      expect(v.sha256).toBe(sha256(file));
    });
  }

  it("the symbol check finds what an addon built against a newer glibc needs", () => {
    // This machine's own toolchain (glibc 2.36): pthread at 2.34, the unwinder's _dl_find_object at
    // 2.35, arc4random at 2.36 from libstdc++'s random_device.
    const above = glibcSymbolsAbove(hostToolchainAddon(), GLIBC_FLOOR);
    expect(above.length).toBeGreaterThan(0);
    expect(above.every((s) => /@GLIBC_2\.(3[2-9]|[4-9]\d)$/.test(s))).toBe(true);
  });
});
