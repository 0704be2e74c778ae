#!/usr/bin/env node
// Copies the Python files that ship beside the compiled JavaScript (tsc copies only what it compiles):
// every src/**/*.py to the same place under dist/.
import { copyFileSync, mkdirSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(root, "src");

function* pythonFiles(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* pythonFiles(path);
    else if (entry.name.endsWith(".py")) yield path;
  }
}

for (const file of pythonFiles(src)) {
  const target = join(root, "dist", relative(src, file));
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(file, target);
}
