// Hostile programs are contained: each attack is one test. Every test asserts what the attack would have
// achieved did not happen (no canary in the output, no file on the host, no connection, no survivor), and
// the test process itself keeps running through all of them.
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { homedir, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPythonSandbox, type PythonSandbox } from "../../src/index.js";
import { processesWith } from "../helpers/hostProcesses.js";

let sandbox: PythonSandbox;
beforeAll(async () => {
  sandbox = await createPythonSandbox({ log: () => {} });
});

const token = () => `canary-${randomBytes(12).toString("hex")}`;
const repoRoot = resolve(import.meta.dirname, "../..");

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Processes still carrying `marker` after the kernel had up to `withinMs` to tear the sandbox down (a PID
 * namespace with dozens of processes takes a moment to empty on a loaded machine).
 */
async function survivorsAfter(marker: string, withinMs = 5000): Promise<string[]> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const left = processesWith(marker);
    if (left.length === 0 || Date.now() > deadline) return left;
    await sleep(100);
  }
}

describe("the sandbox states its protections", () => {
  it("names the mechanism and the active rlimits, deadline and clean environment", () => {
    expect(sandbox.statement).toContain(`Python sandbox: ${sandbox.mechanism}`);
    expect(sandbox.statement).toMatch(/rlimits via prlimit/);
    expect(sandbox.statement).toMatch(/wall-clock deadline/);
    expect(sandbox.statement).toMatch(/empty environment/);
    // A weaker mechanism must say what is missing rather than stay silent.
    if (sandbox.mechanism !== "bubblewrap") expect(sandbox.statement).toMatch(/MISSING: .*file system/);
  });
});

describe("hostile programs are contained", () => {
  it("cannot read a canary environment variable", async () => {
    const name = `SPOGW_CANARY_${randomBytes(4).toString("hex").toUpperCase()}`;
    const secret = token();
    process.env[name] = secret;
    try {
      const program = [
        "import os",
        "print(dict(os.environ))",
        "for path in ['/proc/self/environ', '/proc/1/environ', f'/proc/{os.getppid()}/environ', '/proc/" + process.pid + "/environ']:",
        "    try: print(path, open(path, 'rb').read())",
        "    except Exception as e: print(path, 'refused', type(e).__name__)",
      ].join("\n");
      const run = await sandbox.run(program);
      expect(run.status).toBe("ok");
      expect(run.stdout).toContain("PATH"); // it did print its environment
      expect(run.stdout + run.stderr).not.toContain(secret);
    } finally {
      delete process.env[name];
    }
  });

  it("cannot read a canary file in the home directory", async () => {
    const secret = token();
    const canary = join(homedir(), `.spogw-${token()}`); // the name is not the secret; the content is
    writeFileSync(canary, secret, { mode: 0o644 });
    try {
      const program = [
        "import os, glob",
        // The canary by its path, then any canary in the sandbox's own home or in any home beside the host's.
        `candidates = [${JSON.stringify(canary)}] + glob.glob(os.path.expanduser('~/.spogw-*')) + glob.glob(${JSON.stringify(join(dirname(homedir()), "*", ".spogw-*"))})`,
        "for path in candidates:",
        "    try: print(path, open(path).read())",
        "    except Exception as e: print(path, 'refused', type(e).__name__)",
      ].join("\n");
      const run = await sandbox.run(program);
      expect(run.status).toBe("ok");
      expect(run.stdout).toContain(`${canary} refused`);
      expect(run.stdout + run.stderr).not.toContain(secret);
    } finally {
      rmSync(canary, { force: true });
    }
  });

  it("cannot write outside its work directory", async () => {
    const open = mkdtempSync(join(tmpdir(), "spogw-open-dir-"));
    chmodSync(open, 0o777); // world-writable: only the sandbox can keep the program out
    const name = token();
    const targets = [join(open, name), join(tmpdir(), name), join(repoRoot, name), join(homedir(), name)];
    try {
      const program = [
        "import os",
        `for path in ${JSON.stringify(targets)}:`,
        "    try:",
        "        with open(path, 'w') as f: f.write('escaped')",
        "        print(path, 'written inside the sandbox view')",
        "    except Exception as e: print(path, 'refused', type(e).__name__)",
        "with open('allowed.txt', 'w') as f: f.write('fine')",
        "print('work dir write ok', open('allowed.txt').read())",
      ].join("\n");
      const run = await sandbox.run(program);
      expect(run.stdout).toContain("work dir write ok fine");
      for (const target of targets) expect(existsSync(target), target).toBe(false);
    } finally {
      for (const target of targets) rmSync(target, { force: true });
      rmSync(open, { recursive: true, force: true });
    }
  });

  it("cannot open a network connection", async () => {
    let connections = 0;
    const server: Server = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    try {
      const program = [
        "import socket",
        "for host in ['127.0.0.1', 'localhost']:",
        "    try:",
        `        socket.create_connection((host, ${port}), timeout=2).close()`,
        "        print(host, 'connected')",
        "    except Exception as e: print(host, 'refused', type(e).__name__)",
      ].join("\n");
      const run = await sandbox.run(program);
      expect(run.stdout).not.toContain("connected");
      expect(run.stdout).toContain("127.0.0.1 refused");
      await sleep(100);
      expect(connections).toBe(0);
    } finally {
      server.close();
    }
  });

  it("a fork bomb is stopped and leaves no process behind", async () => {
    const marker = token();
    // The program re-executes itself with a marker in its arguments, so every bomb process carries it.
    const bomb = "import os\nwhile True:\n    try: os.fork()\n    except OSError: pass\n";
    const program = `import os, sys\nos.execv(sys.executable, [sys.executable, '-c', ${JSON.stringify(bomb)}, ${JSON.stringify(marker)}])`;
    const run = await sandbox.run(program, { timeoutMs: 3000 });
    expect(run.status).toBe("timeout");
    expect(await survivorsAfter(marker)).toEqual([]);
  });

  it("an infinite loop is killed at the deadline", async () => {
    const run = await sandbox.run("while True:\n    pass\n", { timeoutMs: 1500 });
    expect(run.status).toBe("timeout");
  });

  it("a memory bomb hits the memory limit", async () => {
    const program = "hoard = []\nwhile True:\n    hoard.append(bytearray(50 * 2**20))\n";
    const run = await sandbox.run(program, { memoryBytes: 512 * 2 ** 20, timeoutMs: 30_000 });
    expect(run.status).toBe("memory-limit");
    expect(run.errorType).toBe("MemoryError");
  });

  it("gigabytes of output are cut off", async () => {
    const program = "import sys\nchunk = b'x' * 2**20\nfor _ in range(4096):\n    sys.stdout.buffer.write(chunk)\n";
    const run = await sandbox.run(program, { maxOutputBytes: 64 * 1024, timeoutMs: 30_000 });
    expect(run.status).toBe("output-limit");
    expect(run.stdout.length).toBeLessThanOrEqual(64 * 1024);
  });

  it("a gigabyte file in the work directory is refused", async () => {
    const program = "chunk = b'x' * 2**20\nwith open('big.bin', 'wb') as f:\n    for _ in range(1024):\n        f.write(chunk)\n";
    const run = await sandbox.run(program, { maxFileBytes: 8 * 2 ** 20, timeoutMs: 30_000 });
    expect(run.status).toBe("error");
    expect(run.errorType).toBe("OSError"); // EFBIG from RLIMIT_FSIZE (or ENOSPC from the work-dir tmpfs)
  });

  it("a sleeping child left behind is killed", async () => {
    const marker = token();
    const program = [
      "import os, subprocess, sys",
      // one child in its own session, one daemonised by a double fork: both try to outlive the program
      `subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', ${JSON.stringify(marker)}], start_new_session=True)`,
      "if os.fork() == 0:",
      "    os.setsid()",
      "    if os.fork() == 0:",
      `        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(600)', ${JSON.stringify(marker)}])`,
      "    os._exit(0)",
      "os.wait()",
      "print('children started')",
    ].join("\n");
    const run = await sandbox.run(program);
    expect(run.status).toBe("ok");
    expect(run.stdout).toContain("children started");
    expect(await survivorsAfter(marker)).toEqual([]);
  });

  it("signals to the parent, its group and every process reach nothing outside", async () => {
    const bystander = sandbox.run("import time\ntime.sleep(2)\nprint('bystander survived')\n");
    await sleep(300); // let the bystander start
    const program = [
      "import os, signal",
      `targets = [os.getppid(), ${process.pid}, ${process.ppid}]`,
      "for pid in targets:",
      "    for sig in (signal.SIGTERM, signal.SIGKILL):",
      "        try: os.kill(pid, sig); print('signalled', pid)",
      "        except Exception as e: print(pid, 'refused', type(e).__name__)",
      "try: os.killpg(os.getpgid(os.getppid()), signal.SIGKILL)",
      "except Exception as e: print('killpg refused', type(e).__name__)",
      "try: os.kill(-1, signal.SIGKILL)", // every process it may signal (itself excluded)
      "except Exception as e: print('kill -1 refused', type(e).__name__)",
      "print('still here')",
    ].join("\n");
    const run = await sandbox.run(program);
    expect(run.status).not.toBe("timeout");
    // The test process (and its parent) are alive: this line runs, and signal 0 finds the parent.
    expect(process.kill(process.ppid, 0)).toBe(true);
    expect((await bystander).stdout).toContain("bystander survived");
  });
});

afterAll(() => {
  expect(readdirSync(tmpdir()).filter((name) => name.startsWith("spogw-py-"))).toEqual([]);
});
