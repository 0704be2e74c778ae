// The sandbox API: runPython, limits, the interpreter choice, the pool bound, and the statement each
// mechanism makes about itself (the weaker ones must say what they lack).
import { existsSync, realpathSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { availableParallelism } from "node:os";
import { describe, expect, it } from "vitest";
import { createPythonSandbox, defaultPythonSandbox, runPython } from "../../src/index.js";
import { processesWith } from "../helpers/hostProcesses.js";

const quiet = { log: () => {} };

describe("runPython", () => {
  it("runs a program and returns its output", async () => {
    const run = await runPython("import sys\nprint(sum(range(10)))\nprint('warn', file=sys.stderr)\n");
    expect(run).toMatchObject({ status: "ok", exitCode: 0, errorType: null, stdout: "45\n", stderr: "warn\n" });
  });

  it("names the uncaught exception", async () => {
    const run = await runPython("def f():\n    raise KeyError('missing')\nf()\n");
    expect(run.status).toBe("error");
    expect(run.exitCode).toBe(1);
    expect(run.errorType).toBe("KeyError");
    expect(run.stderr).toContain("KeyError: 'missing'");
  });

  it("a non-zero sys.exit is an error without an exception", async () => {
    const run = await runPython("import sys\nsys.exit(3)\n");
    expect(run).toMatchObject({ status: "error", exitCode: 3, errorType: null });
  });

  it("refuses nonsense limits before running anything", async () => {
    await expect(runPython("print(1)", { timeoutMs: 0 })).rejects.toThrow(RangeError);
    await expect(runPython("print(1)", { memoryBytes: 1.5 })).rejects.toThrow(/memoryBytes must be a positive whole number/);
  });

  it("uses Debian's /usr/bin/python3 when it exists, not the first python3 on PATH", async () => {
    const sandbox = await defaultPythonSandbox();
    if (existsSync("/usr/bin/python3")) expect(sandbox.python).toBe(realpathSync("/usr/bin/python3"));
    const run = await runPython("import sys\nprint(sys.executable, sys.flags.isolated)\n");
    expect(run.stdout.trim()).toBe(`${sandbox.python} 1`);
  });

  it("runs as many programs at once as the machine has CPUs, and no more than the pool allows", async () => {
    expect((await defaultPythonSandbox()).concurrency).toBe(availableParallelism());
    const sandbox = await createPythonSandbox({ ...quiet, concurrency: 2 });
    const marker = `pool-${randomBytes(8).toString("hex")}`;
    const program = `import os, sys\nos.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(0.6); print("done")', '${marker}'])`;
    let most = 0;
    const sampler = setInterval(() => (most = Math.max(most, processesWith(marker).length)), 25);
    const runs = await Promise.all(Array.from({ length: 5 }, () => sandbox.run(program)));
    clearInterval(sampler);
    expect(runs.map((r) => r.stdout.trim())).toEqual(["done", "done", "done", "done", "done"]);
    expect(most).toBeGreaterThanOrEqual(1);
    expect(most).toBeLessThanOrEqual(2);
  });
});

describe("every mechanism states what it protects and what it lacks", () => {
  it("unshare: namespaces active, file system isolation stated as missing", async () => {
    const sandbox = await createPythonSandbox({ ...quiet, mechanism: "unshare" });
    expect(sandbox.mechanism).toBe("unshare");
    expect(sandbox.statement).toMatch(/active: +unshare: user, network and PID namespaces/);
    expect(sandbox.statement).toMatch(/MISSING: file system isolation/);
    // a server the host can reach; the program, in its own network namespace, must not
    const server = createServer((socket) => socket.end("reached"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    try {
      const program = `import socket\ntry:\n    print(socket.create_connection(('127.0.0.1', ${port}), timeout=2).recv(16))\nexcept OSError as e:\n    print('no network', type(e).__name__)\n`;
      const run = await sandbox.run(program);
      expect(run.stdout).toMatch(/^no network/);
    } finally {
      server.close();
    }
  });

  it("none: says that network, file system and PID isolation are missing", async () => {
    const sandbox = await createPythonSandbox({ ...quiet, mechanism: "none" });
    expect(sandbox.statement).toMatch(/MISSING: namespaces/);
    expect(sandbox.statement).toMatch(/MISSING: PID namespace/);
    expect((await sandbox.run("print('still runs')")).stdout).toBe("still runs\n");
  });

  it("writes the statement once at start-up to the log it was given", async () => {
    const lines: string[] = [];
    const sandbox = await createPythonSandbox({ log: (s) => lines.push(s) });
    await sandbox.run("pass");
    expect(lines).toEqual([sandbox.statement]);
    expect(lines[0]).toMatch(/^Python sandbox: (bubblewrap|unshare|none) /);
  });
});
