#!/usr/bin/env node
// npm run test:native: builds the plain C++ tests (native/tests, SPOGW_BUILD_TESTS=ON, CPU only) into
// native/build-tests with plain cmake, then runs them with ctest, printing a failing test's output.
// Extra arguments go to ctest (e.g. `npm run test:native -- -R rmsnorm`, or `-N` to list the tests).
import { spawnSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const buildDir = join(root, "native", "build-tests");
const env = { ...process.env, CMAKE_BUILD_PARALLEL_LEVEL: process.env.CMAKE_BUILD_PARALLEL_LEVEL ?? "2" };

function run(command, args) {
  process.stderr.write(`test:native: ${command} ${args.join(" ")}\n`);
  const result = spawnSync(command, args, { cwd: root, env, stdio: "inherit" });
  if (result.error) {
    process.stderr.write(`test:native: could not run ${command}: ${result.error.message} (is cmake installed?)\n`);
    process.exit(1);
  }
  if (result.status !== 0) process.exit(result.status ?? 1);
}

run("cmake", ["-S", join(root, "native"), "-B", buildDir, "-DSPOGW_BUILD_TESTS=ON", "-DSPOGW_CUDA=OFF", "--log-level=WARNING"]);
run("cmake", ["--build", buildDir, "--target", "spogw_tests"]);
run("ctest", ["--test-dir", buildDir, "--output-on-failure", ...process.argv.slice(2)]);
