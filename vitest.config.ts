import { defineConfig } from "vitest/config";

// Every test (`npm test`). The fast lane, `npm run test:fast`, is the subset listed in vitest.fast.config.ts.
// Native memory, native threads and child processes (node-llama-cpp, Python sandboxes) do not mix well
// with many workers on a 2-core machine: run test files one at a time in forked processes.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    pool: "forks",
    poolOptions: { forks: { singleFork: false, maxForks: 1, minForks: 1 } },
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
