// Messages between runWorkflow (host thread) and a sandbox worker. A worker runs one workflow at a
// time, each in a fresh QuickJS engine; every message names the run it belongs to, so a late answer
// for a finished run is recognised and dropped.
import type { ArgumentKind } from "../operators/catalog.js";

export interface GuestOperator {
  name: string;
  parameters: ReadonlyArray<{ name: string; kind: ArgumentKind; defaultValue?: string }>;
}

export interface GuestLimits {
  memoryMb: number;
  maxCalls: number;
  maxOutputChars: number;
  maxArgumentChars: number;
  maxArrayLength: number;
  maxComputeMs: number;
}

/** What a worker gets once, at creation. */
export interface WorkerSetup {
  /** Absolute paths of the QuickJS packages (the worker is eval'd, so it cannot resolve names itself). */
  corePath: string;
  variantPath: string;
}

/** One workflow run. */
export interface RunRequest {
  code: string;
  prelude: string;
  operators: GuestOperator[];
  limits: GuestLimits;
}

export type WorkerToHost =
  /**
   * The engine exists and guest code is about to run: the host starts timing the guest's computation.
   * `threadId` is the worker's OS thread id (null where /proc/thread-self is absent): the host measures
   * that thread's CPU time, so a worker merely waiting for a CPU on a loaded machine is not "computing".
   */
  | { type: "ready"; runId: number; threadId: number | null }
  | { type: "call"; runId: number; id: number; name: string; args: Array<string | string[]> }
  /** The guest waits for operator results; it has handled `answers` of the host's result/failure messages. */
  | { type: "idle"; runId: number; answers: number }
  | { type: "done"; runId: number; output: string | null; error: string | null; calls: number };

export type HostToWorker =
  | { type: "start"; runId: number; run: RunRequest }
  | { type: "result"; runId: number; id: number; text: string }
  | { type: "failure"; runId: number; id: number; message: string };
