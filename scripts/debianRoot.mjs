// Debian 11 (bullseye) roots, made with debootstrap and cached outside the clone. glibc 2.31 is the
// floor of everything built or run in them:
//   - "minbase": debootstrap's minimal variant, nothing added. No compiler: the tests install the packed
//     package there and run it.
//   - "build": minbase + g++ 10, cmake, libopenblas-dev (its static archive), ccache, and the CUDA 11.8
//     compiler, headers and static runtime from Debian 12's non-free nvidia-cuda-toolkit /
//     nvidia-cuda-dev (extracted, not installed: their other libraries are not needed). The prebuilds
//     are built here (scripts/prebuild.mjs).
// A root is built on first use into <cache>/debian-roots/<name>-<hash of its recipe>/ and reused while
// the recipe stays the same. Commands run in a private mount and PID namespace (unshare) with the root
// mounted read-only, a fresh /tmp and /opt, and the host paths given as binds; nothing leaks to the
// host mount table. Needs root (debootstrap, chroot, mount), as CI and the project machines have.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

export const DEBIAN_SUITE = "bullseye";
/** glibc of DEBIAN_SUITE: the highest symbol version a prebuild may need. */
export const GLIBC_FLOOR = "2.31";
const MIRROR = process.env.SPOGW_DEBIAN_MIRROR ?? "http://deb.debian.org/debian";
/** Bumped when the way a root is made changes (not only what it contains). */
const RECIPE_REVISION = 1;

const BUILD_PACKAGES = ["g++", "cmake", "make", "libopenblas-dev", "binutils", "ccache"];
/**
 * CUDA 11.8 from Debian 12 (bookworm) non-free: the toolkit's binaries need glibc 2.7, its host
 * compiler may be g++ 10, and its static runtime runs on drivers from 450.80.02 on. Only these members
 * of nvidia-cuda-dev are extracted (the rest is 2.7 GB of other libraries).
 */
const CUDA11 = {
  suite: "bookworm",
  component: "non-free",
  packages: ["nvidia-cuda-toolkit", "nvidia-cuda-dev", "libcudart11.0"],
  members: {
    "nvidia-cuda-dev": ["./usr/include/*", "./usr/lib/x86_64-linux-gnu/libcudart_static.a",
      "./usr/lib/x86_64-linux-gnu/libcudadevrt.a", "./usr/lib/x86_64-linux-gnu/libcudart.so"],
  },
};

/** Where roots (and the prebuild's ccache) live: SPOGW_CACHE_DIR, else /var/cache/spogw-native as root. */
export function cacheDir() {
  if (process.env.SPOGW_CACHE_DIR) return process.env.SPOGW_CACHE_DIR;
  return process.getuid?.() === 0 ? "/var/cache/spogw-native" : join(homedir(), ".cache", "spogw-native");
}

const log = (msg) => process.stderr.write(`spogw-native: ${msg}\n`);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 256 * 1024 * 1024, ...opts });
  if (r.error || r.status !== 0) {
    const out = `${r.stdout ?? ""}\n${r.stderr ?? ""}`.trim().split("\n").slice(-20).join("\n");
    throw new Error(`${cmd} ${args.slice(0, 6).join(" ")} failed (${r.error?.message ?? `exit ${r.status}`}):\n${out}`);
  }
  return r.stdout;
}

function requireRootTools() {
  if (process.getuid?.() !== 0) {
    throw new Error("making and entering a Debian root needs root (debootstrap, chroot, mount); run as root or pass --host to build on this machine's own glibc");
  }
  for (const tool of ["debootstrap", "unshare", "chroot"]) {
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) {
      throw new Error(`${tool} is not installed (Debian: apt-get install debootstrap util-linux coreutils)`);
    }
  }
}

const RECIPES = {
  minbase: { suite: DEBIAN_SUITE, variant: "minbase", mirror: MIRROR, revision: RECIPE_REVISION },
  build: { base: "minbase", packages: BUILD_PACKAGES, cuda11: CUDA11, mountpoints: ["/src", "/ccache"], revision: RECIPE_REVISION },
};

function recipeKey(name) {
  const recipe = RECIPES[name];
  const full = recipe.base ? { ...recipe, base: recipeKey(recipe.base) } : recipe;
  return `${name}-${createHash("sha256").update(JSON.stringify(full)).digest("hex").slice(0, 16)}`;
}

const MARKER = ".spogw-root.json";

/**
 * The cached root `name` ("minbase" or "build"), made on first use. Returns its path, whether it was
 * already there, and the seconds spent making it.
 */
export function ensureRoot(name) {
  if (!RECIPES[name]) throw new Error(`unknown Debian root "${name}"`);
  const dir = join(cacheDir(), "debian-roots", recipeKey(name));
  if (existsSync(join(dir, MARKER))) return { dir, cached: true, seconds: 0 };
  requireRootTools();
  const started = Date.now();
  const partial = `${dir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(dirname(dir), { recursive: true });
  log(`making the Debian ${DEBIAN_SUITE} root "${name}" in ${dir} (first use; later runs reuse it)`);
  const contents = name === "minbase" ? makeMinbase(partial) : makeBuildRoot(partial);
  const seconds = Math.round((Date.now() - started) / 1000);
  writeFileSync(join(partial, MARKER), `${JSON.stringify({ name, recipe: RECIPES[name], contents, seconds, made: new Date().toISOString() }, null, 2)}\n`);
  try {
    renameSync(partial, dir);
  } catch (e) {
    // Another process finished the same root first: use that one.
    if (!existsSync(join(dir, MARKER))) throw e;
    rmSync(partial, { recursive: true, force: true });
  }
  log(`Debian root "${name}" ready in ${seconds} s`);
  return { dir, cached: false, seconds };
}

function makeMinbase(target) {
  run("debootstrap", ["--variant=minbase", DEBIAN_SUITE, target, MIRROR]);
  return { glibc: installedVersion(target, "libc6") };
}

function makeBuildRoot(target) {
  const base = ensureRoot("minbase").dir;
  run("cp", ["-a", base, target]);
  rmSync(join(target, MARKER), { force: true });
  writeFileSync(join(target, "etc", "apt", "sources.list"),
    `deb ${MIRROR} ${DEBIAN_SUITE} main\ndeb ${MIRROR.replace(/\/debian$/, "/debian-security")} ${DEBIAN_SUITE}-security main\n`);
  writeFileSync(join(target, "etc", "resolv.conf"), readFileSync("/etc/resolv.conf"));
  const apt = `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${BUILD_PACKAGES.join(" ")} && apt-get clean`;
  runInRoot(target, ["/bin/sh", "-c", apt], { writable: true });
  for (const m of RECIPES.build.mountpoints) mkdirSync(join(target, m), { recursive: true });
  const cuda = extractCuda11(target);
  const contents = { glibc: installedVersion(target, "libc6"), gxx: installedVersion(target, "g++-10"), cmake: installedVersion(target, "cmake"),
    openblas: installedVersion(target, "libopenblas0-pthread"), cuda11: cuda };
  return contents;
}

function installedVersion(root, pkg) {
  const r = spawnSync("dpkg-query", ["--admindir", join(root, "var", "lib", "dpkg"), "-W", "-f", "${Version}", pkg], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** Downloads CUDA 11.8's Debian packages with the host's apt (private lists) and extracts what nvcc needs. */
function extractCuda11(target) {
  const work = join(cacheDir(), "apt-cuda11");
  const lists = join(work, "lists");
  const debs = join(work, "debs");
  rmSync(debs, { recursive: true, force: true });
  mkdirSync(join(lists, "partial"), { recursive: true });
  mkdirSync(debs, { recursive: true });
  const sources = join(work, "sources.list");
  writeFileSync(sources, `deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${MIRROR} ${CUDA11.suite} ${CUDA11.component}\n`);
  const aptOpts = ["-o", `Dir::Etc::SourceList=${sources}`, "-o", "Dir::Etc::SourceParts=/dev/null", "-o", `Dir::State::Lists=${lists}`,
    "-o", "APT::Sandbox::User=root"];
  run("apt-get", [...aptOpts, "update", "-qq"]);
  run("apt-get", [...aptOpts, "download", ...CUDA11.packages], { cwd: debs });
  const versions = {};
  for (const file of readdirSync(debs).filter((f) => f.endsWith(".deb"))) {
    const pkg = file.split("_")[0];
    versions[pkg] = decodeURIComponent(file.split("_")[1]);
    const deb = join(debs, file);
    const members = CUDA11.members[pkg];
    if (!members) run("dpkg-deb", ["-x", deb, target]);
    else run("sh", ["-c", `dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" --wildcards ${members.map((m) => `'${m}'`).join(" ")}`, "sh", deb, target]);
  }
  rmSync(debs, { recursive: true, force: true });
  if (!existsSync(join(target, "usr", "bin", "nvcc"))) throw new Error("CUDA 11.8: nvcc was not among the extracted files");
  return versions;
}

/**
 * Runs argv inside `root`: read-only root (unless writable), fresh tmpfs /tmp and /opt, /proc mounted,
 * `binds` ({ from, to, readOnly }) mounted from the host, the `node` binary (default: this one) copied
 * to /opt/node/bin/node, and only `env` in the environment (PATH starts with /opt/node/bin).
 * Returns spawnSync's result (encoding utf8); throws only when the namespace itself cannot be made.
 */
export function runInRoot(root, argv, opts = {}) {
  const r = spawnSync("unshare", unshareArgs(root, argv, opts), {
    encoding: "utf8", maxBuffer: 256 * 1024 * 1024, timeout: opts.timeoutMs, input: opts.input,
  });
  if (r.error) throw new Error(`could not enter the Debian root ${root}: ${r.error.message}`);
  if (opts.writable && r.status !== 0) {
    throw new Error(`command in the Debian root failed (exit ${r.status}): ${argv.join(" ")}\n${`${r.stdout}\n${r.stderr}`.trim().split("\n").slice(-20).join("\n")}`);
  }
  return r;
}

/**
 * runInRoot without blocking this process's event loop; resolves to { status, stdout, stderr } (status
 * null when killed after timeoutMs).
 * @returns {Promise<{ status: number | null, stdout: string, stderr: string }>}
 */
export function runInRootAsync(root, argv, opts = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn("unshare", unshareArgs(root, argv, opts), { stdio: ["ignore", "pipe", "pipe"], timeout: opts.timeoutMs });
    let stdout = "", stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
    child.on("error", (e) => reject(new Error(`could not enter the Debian root ${root}: ${e.message}`)));
    child.on("close", (status) => resolvePromise({ status, stdout, stderr }));
  });
}

function unshareArgs(root, argv, opts) {
  const steps = ["set -e", 'R="$1"; shift'];
  if (!opts.writable) steps.push('mount --bind "$R" "$R"', 'mount -o remount,bind,ro "$R"');
  steps.push('mount -t tmpfs tmpfs "$R/tmp"');
  if (!opts.writable) steps.push('mount -t tmpfs tmpfs "$R/opt"', 'mkdir -p "$R/opt/node/bin"', `cp "${opts.node ?? process.execPath}" "$R/opt/node/bin/node"`);
  for (const b of opts.binds ?? []) {
    if (!opts.writable) steps.push(`mkdir -p "$R${b.to}" 2>/dev/null || true`);
    steps.push(`mount --bind "${b.from}" "$R${b.to}"`);
    if (b.readOnly) steps.push(`mount -o remount,bind,ro "$R${b.to}"`);
  }
  const env = { PATH: "/opt/node/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", HOME: "/tmp/home", LANG: "C.UTF-8", ...opts.env };
  const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const inner = `mount -t proc proc /proc && mkdir -p /tmp/home && cd "${opts.cwd ?? "/"}" && exec "$@"`;
  steps.push(`exec chroot "$R" /usr/bin/env -i ${envArgs.map(shellQuote).join(" ")} /bin/sh -c ${shellQuote(inner)} sh "$@"`);
  return ["--mount", "--pid", "--fork", "--kill-child", "--", "/bin/sh", "-c", steps.join("\n"), "sh", root, ...argv];
}

function shellQuote(s) {
  return `'${String(s).replace(/'/g, "'\\''")}'`;
}
