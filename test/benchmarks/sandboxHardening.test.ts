// The Python sandbox's second ring: no descriptor inherited by the host process reaches a program, a
// seccomp filter refuses the kernel interfaces a scoring program never needs, and a broken bubblewrap is
// reported loudly instead of being replaced quietly by a weaker mechanism.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, chmodSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { createPythonSandbox, type PythonSandbox } from "../../src/index.js";
import { findLauncher } from "../../src/benchmarks/sandbox/launcher.js";
import { syscallTables } from "../../src/benchmarks/sandbox/seccompFilter.js";

const repoRoot = resolve(import.meta.dirname, "../..");

let sandbox: PythonSandbox;
beforeAll(async () => {
  sandbox = await createPythonSandbox({ log: () => {} });
});

describe("inherited descriptors", () => {
  it("a descriptor the host process inherited (fd 300, read-write on a host file) does not reach the program", async () => {
    const dir = mkdtempSync(join(tmpdir(), "spogw-fd-"));
    const hostFile = join(dir, "host-file.txt");
    writeFileSync(hostFile, "host content\n");
    const fd = openSync(hostFile, "r+");
    try {
      // A child Node process gets the file at descriptor 300 without close-on-exec, as if whatever started
      // it (a shell, a service manager) had left it open; there it makes the sandbox and runs the program.
      // It imports the built package (dist/), as a plain node process cannot load the TypeScript sources.
      const program = [
        "import json, os",
        "out = {}",
        "try: out['read'] = os.pread(300, 100, 0).decode()",
        "except OSError as e: out['read'] = f'refused errno {e.errno}'",
        "try:",
        "    os.pwrite(300, b'written by the sandbox', 0)",
        "    out['write'] = 'written'",
        "except OSError as e: out['write'] = f'refused errno {e.errno}'",
        "out['open'] = sorted(int(n) for n in os.listdir('/proc/self/fd'))",
        "print(json.dumps(out))",
      ].join("\n");
      const script = [
        `const { createPythonSandbox } = await import(${JSON.stringify(pathToFileURL(join(repoRoot, "dist", "index.js")).href)});`,
        "const sandbox = await createPythonSandbox({ log: () => {} });",
        `const run = await sandbox.run(${JSON.stringify(program)});`,
        "process.stdout.write(run.stdout);",
      ].join("\n");
      const stdio: Array<"ignore" | "pipe" | number> = Array.from({ length: 301 }, () => "ignore");
      stdio[1] = "pipe";
      stdio[2] = "pipe";
      stdio[300] = fd;
      const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio });
      let stdout = "";
      let stderr = "";
      child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise<number | null>((done) => child.on("close", done));
      expect(code, stderr).toBe(0);
      const seen = JSON.parse(stdout) as { read: string; write: string; open: number[] };
      expect(seen.read).toBe("refused errno 9"); // EBADF: nothing is open at 300
      expect(seen.write).toBe("refused errno 9");
      expect(seen.open).not.toContain(300);
      expect(readFileSync(hostFile, "utf8")).toBe("host content\n");
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("without the launcher the statement says that inherited descriptors are not closed", async () => {
    const bare = await createPythonSandbox({ log: () => {}, launcher: null });
    expect(bare.statement).toMatch(/MISSING: inherited descriptors: the sandbox launcher is not built/);
    expect(bare.statement).toMatch(/MISSING: per-program memory total/);
    expect(sandbox.statement).toMatch(/active: +inherited descriptors: every descriptor above the protocol's is closed/);
  });

  it("the launcher refuses malformed arguments with a message naming them", () => {
    const launcher = findLauncher();
    expect(launcher, "npm run build:native builds the launcher").not.toBeNull();
    const run = (args: string[]) => spawnSync(launcher!, args, { encoding: "utf8" });
    expect(run(["--keep-fds", "2", "--", "/bin/true"])).toMatchObject({ status: 125, stderr: expect.stringMatching(/--keep-fds: required, and at least 3/) });
    expect(run(["--keep-fds", "3x", "--", "/bin/true"])).toMatchObject({ status: 125, stderr: expect.stringMatching(/--keep-fds: number out of range or malformed/) });
    expect(run(["--keep-fds", "3", "--tmpfs", "/tmp", "99999999999999999999", "10", "--", "/bin/true"]).stderr).toMatch(/--tmpfs size: number out of range/);
    expect(run(["--keep-fds", "3", "--uid", "1", "--", "/bin/true"]).stderr).toMatch(/--uid\/--gid: give both or neither/);
    expect(run(["--keep-fds", "3", "--", "true"]).stderr).toMatch(/an absolute program path must follow --/);
    expect(run(["--keep-fds", "3", "--bogus"]).stderr).toMatch(/--bogus: unknown option/);
  });
});

describe("the seccomp filter", () => {
  it("is active under bubblewrap", () => {
    expect(sandbox.mechanism).toBe("bubblewrap");
    expect(sandbox.statement).toMatch(/active: +seccomp filter/);
  });

  it("refuses io_uring, keyctl, new namespaces, ptrace, mounts and non-AF_UNIX sockets; fork, threads and subprocesses still work", async () => {
    const n = syscallTables[process.arch]!.numbers;
    // Each refused call is made for real, with arguments that would succeed (or fail differently) without
    // the filter; no connection is attempted anywhere.
    const program = [
      "import ctypes, json, os, socket, subprocess, threading",
      "libc = ctypes.CDLL(None, use_errno=True)",
      "def errno_of(result):",
      "    return 0 if result >= 0 else ctypes.get_errno()",
      "def syscall(nr, *args):",
      "    return errno_of(libc.syscall(nr, *[ctypes.c_long(a) for a in args]))",
      "out = {}",
      "for name, family, kind in [('AF_INET', socket.AF_INET, socket.SOCK_DGRAM), ('AF_INET6', socket.AF_INET6, socket.SOCK_DGRAM),",
      "                           ('AF_NETLINK', socket.AF_NETLINK, socket.SOCK_RAW), ('AF_PACKET', socket.AF_PACKET, socket.SOCK_DGRAM)]:",
      "    try:",
      "        socket.socket(family, kind).close()",
      "        out[name] = 0",
      "    except OSError as e:",
      "        out[name] = e.errno",
      "socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()",
      "a, b = socket.socketpair(socket.AF_UNIX)",
      "out['AF_UNIX'] = 0",
      "params = ctypes.create_string_buffer(120)",
      `out['io_uring_setup'] = syscall(${n.io_uring_setup}, 4, ctypes.addressof(params))`,
      `out['keyctl'] = syscall(${n.keyctl}, 0, -3, 0)`, // KEYCTL_GET_KEYRING_ID of the session keyring
      `out['add_key'] = errno_of(libc.syscall(${n.add_key}, b'user', b'spogw', b'x', 1, -3))`,
      `out['unshare_user'] = syscall(${n.unshare}, 0x10000000)`,
      `out['unshare_net'] = syscall(${n.unshare}, 0x40000000)`,
      `out['clone_newuser'] = syscall(${n.clone}, 0x10000000 | 17, 0, 0, 0, 0)`,
      `out['clone3'] = syscall(${n.clone3}, 0, 0)`,
      `out['ptrace'] = syscall(${n.ptrace}, 0, 0, 0, 0)`, // PTRACE_TRACEME
      `out['process_vm_readv'] = syscall(${n.process_vm_readv}, os.getppid(), 0, 0, 0, 0, 0)`,
      `out['mount'] = errno_of(libc.mount(b'none', b'/tmp', b'tmpfs', 0, None))`,
      `out['bpf'] = syscall(${n.bpf}, 0, 0, 0)`,
      "pid = os.fork()",
      "if pid == 0: os._exit(7)",
      "out['fork'] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])",
      "seen = []",
      "t = threading.Thread(target=lambda: seen.append('thread')); t.start(); t.join()",
      "out['thread'] = seen",
      "out['subprocess'] = subprocess.run(['/bin/echo', 'child'], capture_output=True, text=True).stdout",
      "print(json.dumps(out))",
    ].join("\n");
    const run = await sandbox.run(program);
    expect(run.status, run.stderr).toBe("ok");
    const EPERM = 1;
    const ENOSYS = 38;
    expect(JSON.parse(run.stdout)).toEqual({
      AF_INET: EPERM, AF_INET6: EPERM, AF_NETLINK: EPERM, AF_PACKET: EPERM, AF_UNIX: 0,
      io_uring_setup: EPERM, keyctl: EPERM, add_key: EPERM,
      unshare_user: EPERM, unshare_net: EPERM, clone_newuser: EPERM, clone3: ENOSYS,
      ptrace: EPERM, process_vm_readv: EPERM, mount: EPERM, bpf: EPERM,
      fork: 7, thread: ["thread"], subprocess: "child\n",
    });
  });

  it("names the system calls by the numbers of this machine's kernel headers", () => {
    const headers: Partial<Record<NodeJS.Architecture, string>> = { x64: "/usr/include/x86_64-linux-gnu/asm/unistd_64.h", arm64: "/usr/include/asm-generic/unistd.h" };
    let checked = 0;
    for (const [arch, header] of Object.entries(headers)) {
      if (!existsSync(header)) continue; // linux-libc-dev not installed: nothing independent to compare with
      const text = readFileSync(header, "utf8");
      for (const [name, number] of Object.entries(syscallTables[arch as NodeJS.Architecture]!.numbers)) {
        const defined = new RegExp(`^#define __NR_${name}\\s+(\\d+)\\s*$`, "m").exec(text)?.[1];
        expect(Number(defined), `${arch} ${name}`).toBe(number);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(0);
  });
});

describe("a broken bubblewrap", () => {
  it("is reported as a WARNING at the top of the statement, not replaced quietly", async () => {
    const dir = mkdtempSync(join(tmpdir(), "spogw-bwrap-"));
    const broken = join(dir, "bwrap");
    writeFileSync(broken, "#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n");
    chmodSync(broken, 0o755);
    chmodSync(dir, 0o755); // the unprivileged uid programs start as must reach it
    try {
      const lines: string[] = [];
      const weaker = await createPythonSandbox({ bubblewrap: broken, log: (text) => lines.push(text) });
      expect(weaker.mechanism).not.toBe("bubblewrap");
      expect(weaker.warnings).toHaveLength(1);
      expect(weaker.statement.split("\n")[0]).toBe(`WARNING: ${weaker.warnings[0]}`);
      expect(weaker.warnings[0]).toMatch(new RegExp(`bubblewrap \\(${broken}\\) is installed but failed to start a program: bwrap: setting up uid map: Permission denied`));
      expect(lines).toEqual([weaker.statement]);
      expect(sandbox.warnings).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
