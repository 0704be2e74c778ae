// What a built .node asks of the system it loads on, read from its dynamic section with binutils
// (objdump -T, objdump -p): the glibc symbol versions it binds to and the shared libraries it needs.
// Used by the prebuild (manifest) and by the tests that hold the prebuilds to the glibc floor.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

function objdump(args, file) {
  const r = spawnSync("objdump", [...args, file], { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  if (r.error || r.status !== 0) throw new Error(`objdump ${args.join(" ")} ${file} failed: ${r.error?.message ?? r.stderr.trim()} (install binutils)`);
  return r.stdout;
}

/** -1, 0 or 1 as dotted version a is below, equal to or above b. */
export function compareVersions(a, b) {
  const pa = a.split(".").map(Number), pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

/**
 * Every versioned symbol the file imports from a library, e.g. { name: "arc4random", library: "GLIBC",
 * version: "2.36" } (library is the version tag's prefix: GLIBC, GLIBCXX, CXXABI, GCC, ...).
 * @returns {{ name: string, library: string, version: string }[]}
 */
export function importedSymbolVersions(file) {
  const out = [];
  for (const line of objdump(["-T"], file).split("\n")) {
    // "0000000000000000      DF *UND*  0000000000000000 (GLIBC_2.36) arc4random"; objdump prints the
    // tag without parentheses when the reference is not the default version.
    const m = line.match(/\*UND\*\s+\S+\s+\(?([A-Z]+)_([0-9][0-9.]*)\)?\s+(\S+)\s*$/);
    if (m) out.push({ library: m[1], version: m[2], name: m[3] });
  }
  return out;
}

/** The glibc symbols above `floor`, as "name@GLIBC_x.y", highest version first. */
export function glibcSymbolsAbove(file, floor) {
  return importedSymbolVersions(file)
    .filter((s) => s.library === "GLIBC" && compareVersions(s.version, floor) > 0)
    .sort((a, b) => compareVersions(b.version, a.version) || a.name.localeCompare(b.name))
    .map((s) => `${s.name}@GLIBC_${s.version}`);
}

/**
 * The file's glibc floor (highest GLIBC_x.y it needs) and the symbols that need exactly that version.
 * @returns {{ floor: string | null, symbols: string[] }}
 */
export function glibcFloor(file) {
  const glibc = importedSymbolVersions(file).filter((s) => s.library === "GLIBC");
  if (glibc.length === 0) return { floor: null, symbols: [] };
  const floor = glibc.map((s) => s.version).reduce((a, b) => (compareVersions(a, b) >= 0 ? a : b));
  const symbols = [...new Set(glibc.filter((s) => s.version === floor).map((s) => `${s.name}@GLIBC_${floor}`))].sort();
  return { floor, symbols };
}

/**
 * DT_NEEDED entries: the shared libraries the dynamic loader must find for this file.
 * @returns {string[]}
 */
export function neededLibraries(file) {
  return [...objdump(["-p"], file).matchAll(/^\s*NEEDED\s+(\S+)/gm)].map((m) => m[1]);
}

export function sha256(file) {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}
