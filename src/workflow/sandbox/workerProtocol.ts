// Messages between runWorkflow (host thread) and the sandbox worker that runs the QuickJS engine.
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

/** What the worker gets at start. */
export interface WorkerStart {
  /** Absolute paths of the QuickJS packages (the worker is eval'd, so it cannot resolve names itself). */
  corePath: string;
  variantPath: string;
  code: string;
  prelude: string;
  operators: GuestOperator[];
  limits: GuestLimits;
}

export type WorkerToHost =
  | { type: "call"; id: number; name: string; args: Array<string | string[]> }
  | { type: "done"; output: string | null; error: string | null; calls: number };

export type HostToWorker = { type: "result"; id: number; text: string } | { type: "failure"; id: number; message: string };
