// One-line description of the machine, printed beside every benchmark number.
import { cpus, totalmem } from "node:os";
import { info } from "../../native/index.js";

export function describeMachine(): string {
  const cpu = cpus()[0]?.model.trim() ?? "unknown CPU";
  const gib = (totalmem() / 2 ** 30).toFixed(0);
  let nativePart = "";
  try {
    const i = info();
    nativePart = `; native ${i.variant} (${i.source}), ISA ${i.isaBaseline}, BLAS core ${i.blasCore}, ${i.threads} threads`;
  } catch (e) {
    nativePart = `; native addon unavailable: ${(e as Error).message.split("\n")[0]}`;
  }
  return `${cpu}, ${cpus().length} cores, ${gib} GiB, Node ${process.version}${nativePart}`;
}
