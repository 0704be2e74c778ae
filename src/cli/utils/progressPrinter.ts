// Progress of long phases on stderr: a redrawn bar with rate and ETA on a terminal, a line every few
// seconds (and at the end of each phase) otherwise. The rate counts only work done by this invocation.
import type { ProgressEvent, ProgressListener } from "../../pipeline/index.js";

const BAR_WIDTH = 24;
const LINE_INTERVAL_MS = 5_000;

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  if (seconds < 60) return `${Math.round(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(Math.round(seconds % 60)).padStart(2, "0")}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, "0")}m`;
}

export function progressLine(event: ProgressEvent, elapsedMs: number, prefix = ""): string {
  const fraction = event.total === 0 ? 1 : event.done / event.total;
  const filled = Math.round(fraction * BAR_WIDTH);
  const fresh = event.done - event.resumedFrom;
  const rate = elapsedMs > 0 ? (fresh * 1000) / elapsedMs : 0;
  const eta = rate > 0 ? (event.total - event.done) / rate : Infinity;
  const resumed = event.resumedFrom > 0 ? `, ${event.resumedFrom} resumed` : "";
  return `${prefix}iteration ${event.iteration} ${event.phase.padEnd(8)} [${"#".repeat(filled)}${".".repeat(BAR_WIDTH - filled)}] ${event.done}/${event.total} ${event.unit}` +
    ` ${rate.toFixed(rate < 10 ? 2 : 0)}/s ETA ${event.done === event.total ? "0s" : formatDuration(eta)}${resumed}`;
}

export function progressPrinter(stream: NodeJS.WriteStream = process.stderr, prefix = ""): ProgressListener {
  const started = new Map<string, number>();
  let lastLine = 0;
  return (event) => {
    const key = `${event.iteration}:${event.phase}`;
    if (!started.has(key)) started.set(key, Date.now());
    const line = progressLine(event, Date.now() - started.get(key)!, prefix);
    const finished = event.done === event.total;
    if (stream.isTTY) {
      stream.write(`\r${line}\x1b[K${finished ? "\n" : ""}`);
    } else if (finished || Date.now() - lastLine >= LINE_INTERVAL_MS) {
      stream.write(`${line}\n`);
      lastLine = Date.now();
    }
  };
}
