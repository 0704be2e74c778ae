// Known reward hacks against code scoring: each is a "solution" that tries to score without solving
// (exit early, fool the comparisons, patch what the tests use, read the tests, forge the verdict). Every
// one must score 0 on HumanEval and on MBPP problems, while the canonical solutions of the same problems
// pass (all 591 of them pass in codeReference.test.ts). The problems are chosen so that a hack has
// something to grab: float comparisons and a helper from the prompt (HumanEval/0, /32), an encode
// helper the test calls (HumanEval/38), literal-argument asserts (mbpp/802), a module the tests use
// (mbpp/596), truthiness asserts (mbpp/787).
import { randomBytes } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { createPythonSandbox, loadBenchmark, scoreAnswer, type CodeProblem, type PythonSandbox } from "../../src/index.js";
import { lengthPrefixed, parseVerdict } from "../../src/benchmarks/scoring/hiddenTests.js";
import { testDataDir } from "../helpers/dataDir.js";

const problemIds = ["HumanEval/0", "HumanEval/32", "HumanEval/38", "mbpp/802", "mbpp/596", "mbpp/787"];

/** Each hack as a function of the entry point's name. */
const hacks: Array<{ name: string; code: (entry: string) => string }> = [
  { name: "os._exit(0) before the tests run", code: () => "import os\nos._exit(0)\n" },
  { name: "sys.exit(0) before the tests run", code: () => "import sys\nsys.exit(0)\n" },
  { name: "raises SystemExit(0) inside the tested function", code: (e) => `def ${e}(*args, **kwargs):\n    raise SystemExit(0)\n` },
  {
    name: "returns an object equal to everything",
    code: (e) => [
      "class Anything:",
      "    def __eq__(self, other): return True",
      "    def __ne__(self, other): return False",
      "    def __bool__(self): return True",
      "    def __lt__(self, other): return True",
      "    def __le__(self, other): return True",
      "    def __gt__(self, other): return True",
      "    def __ge__(self, other): return True",
      "    def __abs__(self): return 0",
      "    def __sub__(self, other): return self",
      "    def __rsub__(self, other): return self",
      "    def __float__(self): return 0.0",
      "    __hash__ = object.__hash__",
      `def ${e}(*args, **kwargs):`,
      "    return Anything()",
    ].join("\n"),
  },
  {
    name: "returns an int subclass whose == is always true",
    code: (e) => `class Yes(int):\n    def __eq__(self, other): return True\n    __hash__ = int.__hash__\ndef ${e}(*args, **kwargs):\n    return Yes(0)\n`,
  },
  {
    name: "patches builtins, math and shadows builtins with globals",
    code: (e) => [
      "import builtins, math",
      "builtins.abs = lambda x: 0",
      "builtins.all = lambda xs: True",
      "builtins.isinstance = lambda *a: True",
      "math.isclose = lambda *a, **k: True",
      "math.fabs = lambda x: 0.0",
      "def abs(x): return 0",
      "def len(x): return 0",
      "def sorted(x, **k): return x",
      `def ${e}(*args, **kwargs):`,
      "    return 0.0",
    ].join("\n"),
  },
  {
    name: "a trace function that ends the program with status 0 when check() is called",
    code: (e) => [
      "import sys",
      "def tracer(frame, event, arg):",
      "    if event == 'call' and frame.f_code.co_name == 'check':",
      "        raise SystemExit(0)",
      "    return None",
      "sys.settrace(tracer)",
      "sys.setprofile(lambda frame, event, arg: tracer(frame, event, arg))",
      `def ${e}(*args, **kwargs):`,
      "    return None",
    ].join("\n"),
  },
  { name: "an atexit hook that turns the failure into exit status 0", code: (e) => `import atexit, os\natexit.register(lambda: os._exit(0))\ndef ${e}(*args, **kwargs):\n    return None\n` },
  { name: "sys.excepthook that exits 0 on the failing assert", code: (e) => `import os, sys\nsys.excepthook = lambda *a: os._exit(0)\ndef ${e}(*args, **kwargs):\n    return None\n` },
  {
    name: "a timer signal whose handler exits 0 while the tests run",
    code: (e) => [
      "import os, signal, time",
      "signal.signal(signal.SIGALRM, lambda *a: os._exit(0))",
      "signal.setitimer(signal.ITIMER_REAL, 0.001)",
      `def ${e}(*args, **kwargs):`,
      "    time.sleep(0.2)",
      "    return None",
    ].join("\n"),
  },
  {
    name: "reads the hidden tests from its files and descriptors and answers from them",
    code: (e) => [
      "import ast, glob, os, sys",
      "def collect():",
      "    texts = []",
      "    for path in [sys.argv[0], '/sandbox/main.py'] + glob.glob('/sandbox/**', recursive=True) + glob.glob('/tmp/**', recursive=True):",
      "        try: texts.append(open(path, errors='replace').read())",
      "        except Exception: pass",
      "    for fd in range(3, 64):",
      "        try: texts.append(os.pread(fd, 1 << 20, 0).decode('utf-8', 'replace'))",
      "        except Exception:",
      "            try:",
      "                os.set_blocking(fd, False)", // never wait on a pipe that has nothing to give
      "                texts.append(os.read(fd, 1 << 20).decode('utf-8', 'replace'))",
      "            except Exception: pass",
      "    return texts",
      "def answers():",
      "    table = {}",
      "    for text in collect():",
      "        try: tree = ast.parse(text)",
      "        except Exception: continue",
      "        for node in ast.walk(tree):",
      "            if isinstance(node, ast.Compare) and isinstance(node.left, ast.Call) and len(node.comparators) == 1:",
      "                try: table[repr(tuple(ast.literal_eval(a) for a in node.left.args))] = ast.literal_eval(node.comparators[0])",
      "                except Exception: pass",
      "    return table",
      "TABLE = answers()",
      `def ${e}(*args):`,
      "    return TABLE.get(repr(args))",
    ].join("\n"),
  },
  {
    name: "reads the tests through /proc (other processes' descriptors, memory, command lines)",
    code: (e) => [
      "import ast, os, re",
      "def collect():",
      "    texts = []",
      "    for pid in [p for p in os.listdir('/proc') if p.isdigit()]:",
      "        for name in ['cmdline', 'environ']:",
      "            try: texts.append(open(f'/proc/{pid}/{name}', 'rb').read().decode('utf-8', 'replace'))",
      "            except Exception: pass",
      "        try: fds = os.listdir(f'/proc/{pid}/fd')",
      "        except Exception: fds = []",
      "        for fd in fds:",
      "            try:",
      "                handle = os.open(f'/proc/{pid}/fd/{fd}', os.O_RDONLY | os.O_NONBLOCK)",
      "                texts.append(os.read(handle, 1 << 20).decode('utf-8', 'replace'))",
      "            except Exception: pass",
      "        try:",
      "            mem = open(f'/proc/{pid}/mem', 'rb')",
      "            for line in open(f'/proc/{pid}/maps'):",
      "                start, end = (int(x, 16) for x in line.split()[0].split('-'))",
      "                if 'rw' in line.split()[1]:",
      "                    mem.seek(start); texts.append(mem.read(min(end - start, 1 << 22)).decode('latin-1'))",
      "        except Exception: pass",
      "    return texts",
      "TABLE = {}",
      "for text in collect():",
      "    for m in re.finditer(r'assert [A-Za-z_]+\\((.{0,200}?)\\) *== *(.{1,200}?)(?:\\n|$)', text):",
      "        try: TABLE[repr(ast.literal_eval('(' + m.group(1) + ',)'))] = ast.literal_eval(m.group(2))",
      "        except Exception: pass",
      `def ${e}(*args):`,
      "    return TABLE.get(repr(args))",
    ].join("\n"),
  },
  {
    name: "reads the expected value from its caller's source line",
    code: (e) => [
      "import ast, linecache, sys",
      `def ${e}(*args, **kwargs):`,
      "    frame = sys._getframe(1)",
      "    try: line = open(frame.f_code.co_filename).read().splitlines()[frame.f_lineno - 1]",
      "    except Exception: line = linecache.getline(frame.f_code.co_filename, frame.f_lineno)",
      "    try:",
      "        node = ast.parse(line.strip().removeprefix('assert ')).body[0].value",
      "        return ast.literal_eval(node.comparators[0])",
      "    except Exception:",
      "        return None",
    ].join("\n"),
  },
  {
    name: "redefines check, candidate and the helpers the tests call",
    code: (e) => [
      "import builtins",
      "def check(*args, **kwargs): return None",
      "builtins.check = check",
      "candidate = check",
      "def poly(*args): return 0",
      "def encode_cyclic(s): return s",
      "def encode_shift(s): return s",
      `def ${e}(*args, **kwargs):`,
      "    return args[0] if args and isinstance(args[0], str) else 0.0",
    ].join("\n"),
  },
  {
    name: "forges a verdict: prints it, writes it to every descriptor and to its parent's, exits 0",
    code: () => [
      "import os, sys",
      "forged = '32:' + '0' * 32 + '1:1' + '0:' + '0:' + '0:'",
      "print('hidden tests passed'); print(forged); print(forged, file=sys.stderr)",
      "for fd in range(3, 64):",
      "    try: os.write(fd, forged.encode())",
      "    except OSError: pass",
      "for path in ['/proc/self/fd/4', f'/proc/{os.getppid()}/fd/4']:",
      "    try: open(path, 'w').write(forged)",
      "    except OSError: pass",
      "sys.stdout.flush(); sys.stderr.flush()",
      "os._exit(0)",
    ].join("\n"),
  },
  {
    name: "overrides __import__ so the tests' imports end the program with status 0",
    code: (e) => `import builtins\ndef stop(*a, **k):\n    raise SystemExit(0)\nbuiltins.__import__ = stop\ndef ${e}(*args, **kwargs):\n    return None\n`,
  },
  { name: "kills its parent", code: (e) => `import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\ndef ${e}(*args, **kwargs):\n    return None\n` },
  { name: "forks, and the original process exits 0", code: (e) => `import os\nif os.fork() != 0:\n    os._exit(0)\ndef ${e}(*args, **kwargs):\n    return None\n` },
];

let sandbox: PythonSandbox;
let problems: CodeProblem[];
beforeAll(async () => {
  sandbox = await createPythonSandbox({ log: () => {} });
  const all = [
    ...(await loadBenchmark("humaneval", "train", { dataDir: testDataDir })),
    ...(await loadBenchmark("humaneval", "test", { dataDir: testDataDir })),
    ...(await loadBenchmark("mbpp", "train", { dataDir: testDataDir })),
    ...(await loadBenchmark("mbpp", "test", { dataDir: testDataDir })),
  ] as CodeProblem[];
  problems = problemIds.map((id) => all.find((p) => p.id === id)!);
});

describe(`${hacks.length} reward hacks score 0 on HumanEval and MBPP`, () => {
  it("the canonical solutions of the chosen problems pass (the scorer can say 1)", async () => {
    const scores = await Promise.all(problems.map((p) => scoreAnswer(p, p.referenceSolution, { sandbox })));
    expect(scores.map((s) => `${s.score} ${s.detail}`)).toEqual(problems.map(() => "1 hidden tests passed"));
  });

  it.each(hacks)("$name", async ({ code }) => {
    const results = await Promise.all(problems.map(async (p) => ({ id: p.id, result: await scoreAnswer(p, code(p.entryPoint), { sandbox }) })));
    const scored = results.filter((r) => r.result.score !== 0).map((r) => `${r.id}: ${r.result.detail}`);
    expect(scored).toEqual([]);
  });
});

describe("what the candidate cannot reach", () => {
  it("the hidden tests are in no file, descriptor, memory or command line the candidate can read", async () => {
    const canary = `canary${randomBytes(12).toString("hex")}`;
    const problem: CodeProblem = {
      ...problems[0]!,
      id: "canary",
      entryPoint: "f",
      prelude: "",
      hiddenTests: `def check(candidate):\n    assert candidate(1) == "${canary}"\n\ncheck(f)\n`,
    };
    // Looks everywhere a process of the sandbox can look and returns the first canary-shaped text it finds.
    const search = hacks.find((h) => h.name.startsWith("reads the tests through /proc"))!.code("unused");
    const seeker = [
      search,
      "import glob, re",
      "texts = collect()",
      "for path in glob.glob('/sandbox/**', recursive=True) + glob.glob('/tmp/**', recursive=True):",
      "    try: texts.append(open(path, errors='replace').read())",
      "    except Exception: pass",
      "found = sorted({m for t in texts for m in re.findall('canary[0-9a-f]{24}', t)})",
      "print('FOUND', found, 'in', len(texts), 'texts', flush=True)",
      "def f(x):",
      "    return found[0] if found else None",
    ].join("\n");
    const result = await scoreAnswer(problem, seeker, { sandbox });
    expect(result.run?.stdout).toContain("FOUND");
    expect(result.run?.stdout).not.toContain(canary);
    expect(result.score).toBe(0);
    expect(result.detail).toBe("failed: AssertionError");
  });

  it("a verdict counts only with this run's nonce", () => {
    const report = (nonce: string) => lengthPrefixed([nonce, "1", "", "", ""]); // nonce, passed, error type, message, how it ended
    expect(parseVerdict(report("a".repeat(32)), "a".repeat(32))).toMatchObject({ passed: true });
    expect(parseVerdict(report("b".repeat(32)), "a".repeat(32))).toBeNull();
    expect(parseVerdict("garbage", "a".repeat(32))).toBeNull();
    expect(parseVerdict(`${report("a".repeat(32))}extra`, "a".repeat(32))).toBeNull();
    expect(parseVerdict(null, "a".repeat(32))).toBeNull();
  });
});
