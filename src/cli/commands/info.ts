// `spogw-native info`: which native binary was loaded and why, and what it reports about the machine.
import type { CommandModule } from "yargs";
import { info } from "../../native/index.js";
import { resolveEngineDevice } from "../../train/index.js";
import { formatCudaVersion } from "../../native/platform.js";
import { packageVersion } from "../../packageInfo.js";

interface InfoOptions {
  json: boolean;
}

export const infoCommand: CommandModule<object, InfoOptions> = {
  command: "info",
  describe: "Show the loaded native binary (CPU/CUDA, BLAS, ISA, threads) and why it was chosen",
  builder: (y) => y.option("json", { type: "boolean", default: false, describe: "Print one JSON object" }),
  handler: (argv) => {
    const i = info();
    if (argv.json) {
      process.stdout.write(`${JSON.stringify({ version: packageVersion(), ...i })}\n`);
      return;
    }
    const cuda = i.cuda.compiled
      ? `compiled (runtime ${fmtCudaVersion(i.cuda.runtimeVersion)}); ${i.cuda.deviceCount} device(s)` +
        (i.cuda.deviceCount > 0 ? ` [${i.cuda.deviceName}, ${(i.cuda.totalMemoryBytes / 2 ** 30).toFixed(1)} GiB]` : ` (${i.cuda.error})`) +
        `; cuBLAS: ${i.cuda.cublas}; training engine: ${resolveEngineDevice("auto")} by default`
      : `not in this binary (${i.cuda.error})`;
    const driver = i.driver.version || i.driver.cudaVersion
      ? [i.driver.version && `NVIDIA ${i.driver.version}`, i.driver.cudaVersion && `supports CUDA ${formatCudaVersion(i.driver.cudaVersion)}`].filter(Boolean).join(", ")
      : "none found";
    const rows: Array<[string, string]> = [
      ["spogw-native", packageVersion()],
      ["binary", i.binaryPath],
      ["chosen because", i.reason],
      ...i.tried.map((t): [string, string] => ["passed over", `${t.path}: ${t.skipped}`]),
      ["driver", driver],
      ["variant", i.variant],
      ["ISA baseline", i.isaBaseline],
      ["CPU features", i.cpuFeatures || "(none detected)"],
      ["BLAS", i.blas],
      ["BLAS core", i.blasCore],
      ["engine forward", i.engineNumerics],
      ["threads", `${i.threads} of ${i.hardwareThreads} (SPOGW_THREADS to change)`],
      ["CUDA", cuda],
    ];
    const width = Math.max(...rows.map(([k]) => k.length));
    process.stdout.write(rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n") + "\n");
  },
};

function fmtCudaVersion(v: number): string {
  return v ? formatCudaVersion(v) : "none";
}
