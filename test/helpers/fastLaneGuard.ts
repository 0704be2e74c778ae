// Set up before every file of the fast lane (vitest.fast.config.ts). A fast-lane test loads no model,
// starts no child process and opens no socket; here each of those fails the test at once, saying so,
// so that a test listed in the wrong lane is found the first time it runs rather than by a slow lane.
import childProcess from "node:child_process";
import { syncBuiltinESMExports } from "node:module";
import net from "node:net";
import { Generator } from "../../src/generator/index.js";
import { Engine } from "../../src/train/index.js";

function refuse(what: string): never {
  throw new Error(`${what}: a fast-lane test needs no model, child process or network. ` +
    "Take the file out of FAST_TESTS in vitest.fast.config.ts (it then runs in `npm test` only).");
}

for (const name of ["spawn", "spawnSync", "exec", "execSync", "execFile", "execFileSync", "fork"] as const) {
  (childProcess as unknown as Record<string, unknown>)[name] = () => refuse(`child_process.${name}`);
}
syncBuiltinESMExports(); // named imports (`import { spawn } from "node:child_process"`) see the refusals too
net.Socket.prototype.connect = () => refuse("a network connection");
net.Server.prototype.listen = () => refuse("a listening socket");
Engine.load = () => refuse("Engine.load (a model in the training engine)");
Generator.load = () => refuse("Generator.load (a model in node-llama-cpp)");
