// Sandbox worker threads, reused across runs. Starting a worker (a V8 isolate, the QuickJS packages,
// the WebAssembly compile) costs far more than a run's own fresh engine, so a worker whose run ended
// normally goes back to the pool; one whose run was cut short (deadline, call cap on the host side,
// crash) is terminated, since its guest may still be computing. Idle workers do not keep the process
// alive and are closed after a while.
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { sandboxWorkerMain } from "./guestEngine.js";
import type { WorkerSetup } from "./workerProtocol.js";

const resolvePackage = createRequire(import.meta.url).resolve;
const SETUP: WorkerSetup = {
  corePath: resolvePackage("quickjs-emscripten-core"),
  variantPath: resolvePackage("@jitl/quickjs-wasmfile-release-sync"),
};

// The worker evaluates the engine function's own source (no separate file to build or locate); a
// no-op __name covers bundlers that wrap named functions with that helper.
const WORKER_SOURCE = `"use strict";
const __name = (fn) => fn;
const { workerData, parentPort } = require("node:worker_threads");
(${sandboxWorkerMain.toString()})(require, workerData, parentPort);`;

/** The worker's own JS heap; each engine's memory is bounded separately by the run's memoryMb. */
const WORKER_RESOURCE_LIMITS = { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 16, stackSizeMb: 4 };
const IDLE_CLOSE_MS = 30_000;

const idle: Array<{ worker: Worker; timer: NodeJS.Timeout }> = [];

function maxIdleWorkers(): number {
  return Math.max(2, availableParallelism() * 2);
}

export function acquireWorker(): Worker {
  const reused = idle.pop();
  if (reused) {
    clearTimeout(reused.timer);
    reused.worker.ref();
    return reused.worker;
  }
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: SETUP,
    env: {}, // nothing secret reaches the worker thread, even though the engine could not read it
    resourceLimits: WORKER_RESOURCE_LIMITS,
    stdout: true, // the engine's own diagnostics stay out of the host's output
    stderr: true,
  });
  // A worker that dies while idle simply leaves the pool.
  worker.on("exit", () => {
    const at = idle.findIndex((entry) => entry.worker === worker);
    if (at >= 0) clearTimeout(idle.splice(at, 1)[0]!.timer);
  });
  worker.on("error", () => {}); // reported to the run through its own listener; never unhandled
  return worker;
}

/** Back to the pool after a run that ended normally; `reusable: false` terminates it. */
export function releaseWorker(worker: Worker, reusable: boolean): void {
  worker.removeAllListeners("message");
  if (!reusable || idle.length >= maxIdleWorkers()) {
    void worker.terminate();
    return;
  }
  worker.unref();
  const timer = setTimeout(() => {
    const at = idle.findIndex((entry) => entry.worker === worker);
    if (at >= 0) idle.splice(at, 1);
    void worker.terminate();
  }, IDLE_CLOSE_MS);
  timer.unref();
  idle.push({ worker, timer });
}
