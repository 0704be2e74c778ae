// Where tests read the benchmark data: $SPOGW_DATA_DIR, else ../shared/data next to the repository.
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const testDataDir = process.env.SPOGW_DATA_DIR ?? resolve(repoRoot, "../shared/data");
