// `spogw-native data check --data-dir DIR`: loads every split of every benchmark and prints the problem
// counts, or for a bad file the first bad row (file, line, field). Exits 1 when a file is bad, when no
// file is there at all, or when one is missing and --require-all is given.
import { relative } from "node:path";
import type { CommandModule } from "yargs";
import { checkDataDir } from "../../benchmarks/index.js";
import { formatTable } from "../utils/timing.js";

interface DataCheckOptions {
  "data-dir": string | undefined;
  "require-all": boolean;
}

const dataCheckCommand: CommandModule<object, DataCheckOptions> = {
  command: "check",
  describe: "Validate every benchmark file and print the problem count per split",
  builder: (y) =>
    y
      .option("data-dir", { type: "string", describe: "folder with humaneval/, mbpp/, math/, ... (default $SPOGW_DATA_DIR)" })
      .option("require-all", { type: "boolean", default: false, describe: "fail when a split file is missing" }),
  handler: async (argv) => {
    const dataDir = argv["data-dir"] ?? process.env.SPOGW_DATA_DIR;
    if (!dataDir) throw new Error("name the data folder with --data-dir DIR (or set SPOGW_DATA_DIR)");
    const checks = await checkDataDir(dataDir);
    const rows = [["benchmark", "split", "problems", "file"]];
    for (const c of checks) {
      rows.push([c.benchmark, c.split, c.count !== null ? String(c.count) : c.missing ? "missing" : "INVALID", relative(dataDir, c.file)]);
    }
    process.stdout.write(`data dir: ${dataDir}\n${formatTable(rows)}\n`);
    const invalid = checks.filter((c) => c.error !== null && !c.missing);
    const missing = checks.filter((c) => c.missing);
    for (const c of invalid) process.stdout.write(`\nINVALID ${c.error}\n`);
    if (missing.length > 0) process.stdout.write(`\n${missing.length} split file(s) missing: ${missing.map((c) => `${c.benchmark}/${c.split}`).join(", ")}\n`);
    if (invalid.length > 0) throw new Error(`${invalid.length} data file(s) invalid (see above)`);
    if (missing.length === checks.length) throw new Error(`no benchmark files under ${dataDir}: is it the right folder?`);
    if (argv["require-all"] && missing.length > 0) throw new Error(`${missing.length} split file(s) missing`);
  },
};

export const dataCommand: CommandModule = {
  command: "data <action>",
  describe: "Benchmark data: check the files",
  builder: (y) => y.command(dataCheckCommand).demandCommand(1, "Name an action: `spogw-native data --help` lists them."),
  handler: () => {},
};
