// `spogw-native build`: compile the native addon from source (cmake-js), e.g. for a CPU-tuned local
// build or when no prebuilt binary fits this machine.
import type { CommandModule } from "yargs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { packageRoot } from "../../packageInfo.js";

interface BuildOptions {
  cuda: string;
  isa: string;
  blas: string;
}

export const buildCommand: CommandModule<object, BuildOptions> = {
  command: "build",
  describe: "Build the native addon from source into native/build (needs cmake, g++, libopenblas-dev; nvcc for CUDA)",
  builder: (y) =>
    y
      .option("cuda", { choices: ["AUTO", "ON", "OFF"], default: "AUTO", describe: "CUDA kernels: AUTO builds them when nvcc works" })
      .option("isa", { choices: ["native", "x86-64-v2", "x86-64-v3"], default: "native", describe: "-march for the addon's own code" })
      .option("blas", { choices: ["openblas-static", "none"], default: "openblas-static", describe: "CPU GEMM backend" }),
  handler: async (argv) => {
    const script = pathToFileURL(join(packageRoot(), "scripts", "buildNative.mjs")).href;
    const { buildNative } = (await import(script)) as { buildNative: (o: object) => string };
    buildNative({ cuda: argv.cuda, isa: argv.isa, blas: argv.blas });
  },
};
