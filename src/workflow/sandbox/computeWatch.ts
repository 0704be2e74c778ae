// The host's own timing of a guest's computation. The engine's interrupt check stops ordinary loops at
// maxComputeMs, but QuickJS never checks inside some builtins (a quadratic String.prototype.indexOf ran
// 14 s under a 500 ms cap), so the host watches too and ends the run from outside.
//
// The guest computes from "ready" and from each answer the host posts, until the worker reports "idle"
// having handled every answer posted so far. What counts is the CPU time the worker thread uses in that
// stretch (wall time where /proc cannot tell): a worker merely waiting for a CPU on a loaded machine is
// not computing, and measured wall time did end such runs under load 15.
import { readFileSync } from "node:fs";

/** Slack beyond maxComputeMs before the host ends a run from outside the engine. */
export const COMPUTE_GRACE_MS = 500;

/** CPU time (ms) the thread `threadId` of this process has used, or null where it cannot be read. */
function threadCpuMs(threadId: number | null): number | null {
  if (threadId === null) return null;
  try {
    // schedstat's first field: nanoseconds this thread has run on a CPU.
    return Number(readFileSync(`/proc/self/task/${threadId}/schedstat`, "utf8").split(" ")[0]) / 1e6;
  } catch {
    return null;
  }
}

export class ComputeWatch {
  private timer: NodeJS.Timeout | null = null;
  private answersPosted = 0;
  private threadId: number | null = null;
  private start = { cpuMs: null as number | null, wallMs: 0 };
  private readonly allowedMs: number;

  constructor(maxComputeMs: number, private readonly exceeded: () => void) {
    this.allowedMs = maxComputeMs + COMPUTE_GRACE_MS;
  }

  /** The engine exists; the guest starts computing on the worker thread `threadId`. */
  ready(threadId: number | null): void {
    this.threadId = threadId;
    this.computing();
  }

  /** An operator's answer was posted: the guest computes again. */
  answerPosted(): void {
    this.answersPosted++;
    this.computing();
  }

  /** The guest waits for operators, having handled `answersHandled` answers. */
  idle(answersHandled: number): void {
    if (answersHandled === this.answersPosted) this.stop();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Starts timing unless already timing: a stretch is measured from its start, never extended. */
  private computing(): void {
    if (this.timer !== null) return;
    this.start = { cpuMs: threadCpuMs(this.threadId), wallMs: Date.now() };
    this.timer = setTimeout(() => this.check(), this.allowedMs);
  }

  private check(): void {
    const cpuNow = threadCpuMs(this.threadId);
    const used = cpuNow !== null && this.start.cpuMs !== null ? cpuNow - this.start.cpuMs : Date.now() - this.start.wallMs;
    if (used >= this.allowedMs) {
      this.timer = null;
      return this.exceeded();
    }
    this.timer = setTimeout(() => this.check(), Math.max(20, this.allowedMs - used));
  }
}
