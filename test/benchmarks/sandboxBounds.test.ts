// A program's memory is bounded as a whole, not per process: children, memfds and the files of its
// tmpfs all count against one limit (the per-program cgroup), and its work dir holds a bounded number
// of files, so it cannot make the kernel hold unbounded inodes. Each program below would hold several
// times its limit without these bounds (measured before they existed: 3 of 3 children, 768 MiB of
// memfds, 20000 links).
import { beforeAll, describe, expect, it } from "vitest";
import { createPythonSandbox, type PythonSandbox } from "../../src/index.js";

const MiB = 2 ** 20;
let sandbox: PythonSandbox;
beforeAll(async () => {
  sandbox = await createPythonSandbox({ log: () => {} });
});

describe("the program's total memory", () => {
  it("is bounded by a per-program cgroup on this machine (root, cgroup v1 memory and pids hierarchies)", () => {
    expect(sandbox.statement).toMatch(/active: +per-program cgroup \(v\d\): all its processes together at most 1024 MiB and 32 processes/);
  });

  it("three children of 150 MiB each cannot all hold their memory under a 256 MiB limit", async () => {
    // Each child touches every page of its block, reports, and keeps holding it while the others try.
    const program = [
      "import os, time",
      "pipes = []",
      "for _ in range(3):",
      "    r, w = os.pipe()",
      "    if os.fork() == 0:",
      "        os.close(r)",
      "        try:",
      "            block = bytearray(150 * 2**20)",
      "            for i in range(0, len(block), 4096): block[i] = 1",
      "            os.write(w, b'1')",
      "        except MemoryError:",
      "            os.write(w, b'0')",
      "        time.sleep(3)",
      "        os._exit(0)",
      "    os.close(w)",
      "    pipes.append(r)",
      "held = sum(os.read(r, 1) == b'1' for r in pipes)",
      "print('held', held, flush=True)",
    ].join("\n");
    const run = await sandbox.run(program, { memoryBytes: 256 * MiB, timeoutMs: 30_000 });
    // Either the parent reports how many held their block, or the OOM killer took the parent itself.
    const held = Number(/held (\d)/.exec(run.stdout)?.[1] ?? 0);
    expect(held).toBeLessThanOrEqual(1);
    if (run.status !== "ok") expect(run.status).toBe("memory-limit");
  });

  it("memfds count against the same limit", async () => {
    const program = [
      "import os",
      "total, fds = 0, []",
      "chunk = b'x' * (8 * 2**20)",
      "try:",
      "    while total < 768 * 2**20:",
      "        fd = os.memfd_create('hoard')",
      "        os.write(fd, chunk)",
      "        fds.append(fd)",
      "        total += len(chunk)",
      "        print('total', total >> 20, flush=True)",
      "except OSError as e:",
      "    print('refused', e.errno, flush=True)",
    ].join("\n");
    const run = await sandbox.run(program, { memoryBytes: 256 * MiB, timeoutMs: 30_000 });
    const totals = [...run.stdout.matchAll(/total (\d+)/g)].map((m) => Number(m[1]));
    expect(Math.max(0, ...totals)).toBeLessThan(256);
    expect(run.status).toBe("memory-limit");
  });
});

describe("the number of files a program may create", () => {
  it("the work dir holds at most maxWorkDirFiles files and links (ENOSPC after)", async () => {
    const program = [
      "import os",
      "made = 0",
      "try:",
      "    for i in range(20000):",
      "        os.symlink('target', f'link{i}')",
      "        made += 1",
      "except OSError as e:",
      "    print('stopped', e.errno)",
      "print('made', made)",
    ].join("\n");
    const run = await sandbox.run(program, { maxWorkDirFiles: 1000 });
    expect(run.status).toBe("ok");
    expect(run.stdout).toContain("stopped 28"); // ENOSPC
    const made = Number(/made (\d+)/.exec(run.stdout)?.[1]);
    expect(made).toBeGreaterThan(900);
    expect(made).toBeLessThan(1000); // the directory itself takes an inode
  });

  it("/dev/shm is bounded the same way", async () => {
    const program = "import os\nmade = 0\ntry:\n    for i in range(20000):\n        open(f'/dev/shm/f{i}', 'w').close()\n        made += 1\nexcept OSError as e:\n    print('stopped', e.errno)\nprint('made', made)\n";
    const run = await sandbox.run(program);
    expect(run.stdout).toContain("stopped 28");
    expect(Number(/made (\d+)/.exec(run.stdout)?.[1])).toBeLessThan(256);
  });
});
