// The sandbox worker's program: runs workflows one at a time, each in a fresh QuickJS engine
// (WebAssembly instance), on its own thread. The host thread runs the operators; here each operator
// call hands the guest a promise that is settled when the host answers, so several calls can be in
// flight at once (ensembles).
//
// This function is sent to the worker as source text (Function.prototype.toString), so it must be
// self-contained: it uses only its parameters and what it defines inside. Imports here are types only.
import type { MessagePort } from "node:worker_threads";
import type { QuickJSContext, QuickJSDeferredPromise, QuickJSHandle, QuickJSRuntime } from "quickjs-emscripten-core";
import type { GuestOperator, HostToWorker, RunRequest, WorkerSetup, WorkerToHost } from "./workerProtocol.js";

type QuickJSCore = typeof import("quickjs-emscripten-core");

export function sandboxWorkerMain(load: (path: string) => unknown, setup: WorkerSetup, port: MessagePort): void {
  const STACK_BYTES = 256 * 1024;
  const MAX_ERROR_CHARS = 500;
  const core = load(setup.corePath) as QuickJSCore;
  const variant = load(setup.variantPath) as Parameters<QuickJSCore["newQuickJSWASMModuleFromVariant"]>[0];
  const fs = load("node:fs") as typeof import("node:fs");
  const threadId = ((): number | null => {
    try {
      return Number(fs.readlinkSync("/proc/thread-self").split("/").pop()) || null;
    } catch {
      return null;
    }
  })();
  /** CPU time (ms) this worker thread has used (schedstat's first field, in ns), or null where /proc cannot tell. */
  const threadCpuMs = (): number | null => {
    try {
      return Number(fs.readFileSync("/proc/thread-self/schedstat", "utf8").split(" ")[0]) / 1e6;
    } catch {
      return null;
    }
  };
  /** The run in progress: its id and how to deliver an operator's answer to it. */
  let current: { runId: number; settle: (message: HostToWorker) => void } | null = null;

  port.on("message", (message: HostToWorker) => {
    if (message.type === "start") {
      current = { runId: message.runId, settle: startRun(message.runId, message.run) };
    } else if (current && message.runId === current.runId) {
      current.settle(message);
    } // an answer for an earlier run arrived after it ended: nothing to do
  });

  /** Starts one run; returns the function that delivers operator answers to it. */
  function startRun(runId: number, start: RunRequest): (message: HostToWorker) => void {
    const { limits } = start;
    let runtime: QuickJSRuntime | null = null;
    let vm: QuickJSContext | null = null;
    let workflowPromise: QuickJSHandle | null = null;
    let finished = false;
    let calls = 0;
    let nextId = 0;
    let stopReason: string | null = null;
    /** Set once the run's outcome is being read: guest code run from then on (getters) calls no operator. */
    let closing = false;
    let answers = 0;
    /** When the guest's current stretch of computation began, in wall and thread CPU time. */
    let slice = { wallMs: Date.now(), cpuMs: threadCpuMs() };
    const startSlice = (): void => {
      slice = { wallMs: Date.now(), cpuMs: threadCpuMs() };
    };
    /**
     * How long the guest has computed in this stretch: the thread's CPU time, so that a worker merely
     * waiting for a CPU on a loaded machine is not stopped (wall time stopped a 200 ms run while the engine
     * was still starting, at load 15). A thread's CPU time never exceeds the wall time, so /proc is read
     * only once the wall time is past the cap.
     */
    const computedMs = (): number => {
      const wallMs = Date.now() - slice.wallMs;
      if (wallMs <= limits.maxComputeMs) return wallMs;
      const cpuMs = threadCpuMs();
      return cpuMs !== null && slice.cpuMs !== null ? cpuMs - slice.cpuMs : wallMs;
    };
    const pending = new Map<number, QuickJSDeferredPromise>();

    const send = (message: WorkerToHost): void => port.postMessage(message);
    const sendDone = (output: string | null, error: string | null): void => send({ type: "done", runId, output, error, calls });
    const clip = (text: string): string => (text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS)}...` : text);

    function finish(output: string | null, error: string | null): void {
      if (finished) return;
      finished = true;
      closing = true;
      release();
      sendDone(output, error);
    }

    /** Frees this run's engine; the worker then waits for the next run. */
    function release(): void {
      try {
        for (const deferred of pending.values()) deferred.dispose();
        workflowPromise?.dispose();
        vm?.dispose();
        runtime?.dispose();
      } catch {
        // An engine left mid-operation may refuse; its WebAssembly instance is dropped either way.
      }
      pending.clear();
      workflowPromise = null;
      vm = null;
      runtime = null;
    }

    function readStringProp(handle: QuickJSHandle, key: string): string | null {
      const value = vm!.getProp(handle, key);
      try {
        return vm!.typeof(value) === "string" ? vm!.getString(value) : null;
      } finally {
        value.dispose();
      }
    }

    /** "Name: message" of a thrown guest value, read property by property (never via toString/JSON). */
    function errorText(handle: QuickJSHandle): string {
      try {
        const kind = vm!.typeof(handle);
        if (kind === "string") return clip(`thrown string: ${vm!.getString(handle)}`);
        if (kind !== "object") return `thrown ${kind}`;
        const name = readStringProp(handle, "name") ?? "Error";
        const message = readStringProp(handle, "message");
        return clip(message === null ? `thrown ${name} object` : `${name}: ${message}`);
      } catch (error) {
        return stopReason ?? `an error that could not be read (${String(error)})`;
      }
    }

    function classify(reason: string): string {
      if (stopReason) return stopReason;
      if (/out of memory/i.test(reason)) return `memory limit of ${limits.memoryMb} MB exceeded`;
      if (/stack overflow|call stack size/i.test(reason)) return `stack overflow: ${reason}`;
      return `the workflow failed: ${reason}`;
    }

    /**
     * Copies one argument out of the guest, checking kind and size. Values are read directly, never via
     * toString/valueOf; an array element getter does run, under the same compute limit as other code.
     */
    function readString(handle: QuickJSHandle, what: string): string {
      const kind = vm!.typeof(handle);
      if (kind !== "string") throw new Error(`${what} must be a string, got ${kind}`);
      const text = vm!.getString(handle);
      if (text.length > limits.maxArgumentChars) throw new Error(`${what} is ${text.length} characters; at most ${limits.maxArgumentChars}`);
      return text;
    }

    function readArguments(op: GuestOperator, handles: QuickJSHandle[]): Array<string | string[]> {
      if (handles.length > op.parameters.length) throw new Error(`ops.${op.name} takes at most ${op.parameters.length} argument(s)`);
      return op.parameters.map((param, i) => {
        const handle = handles[i];
        const what = `ops.${op.name}: \`${param.name}\``;
        if (!handle || vm!.typeof(handle) === "undefined") {
          if (param.defaultValue !== undefined) return param.defaultValue;
          throw new Error(`${what} is missing`);
        }
        if (param.kind === "string") return readString(handle, what);
        const length = vm!.typeof(handle) === "object" ? vm!.getLength(handle) : undefined;
        if (length === undefined) throw new Error(`${what} must be an array of strings`);
        if (length > limits.maxArrayLength) throw new Error(`${what} has ${length} items; at most ${limits.maxArrayLength}`);
        const items: string[] = [];
        for (let k = 0; k < length; k++) {
          const item = vm!.getProp(handle, k);
          try {
            items.push(readString(item, `${what}[${k}]`));
          } finally {
            item.dispose();
          }
        }
        return items;
      });
    }

    /** Called synchronously from guest code; returns a guest promise the host settles later. */
    function operatorCall(op: GuestOperator, handles: QuickJSHandle[]): QuickJSHandle {
      // A stopped run makes no more calls: not from getters read while its result or error is formatted,
      // not after a limit ended it.
      if (closing || stopReason !== null) throw new Error("the run has stopped; no more operator calls");
      calls++;
      if (calls > limits.maxCalls) {
        calls = limits.maxCalls;
        stopReason = `more than ${limits.maxCalls} operator calls`;
        throw new Error("operator call limit reached");
      }
      const args = readArguments(op, handles); // a bad argument throws into the guest
      const id = nextId++;
      const deferred = vm!.newPromise();
      pending.set(id, deferred);
      send({ type: "call", runId, id, name: op.name, args });
      return deferred.handle;
    }

    function settle(message: HostToWorker): void {
      if (message.type === "start") return;
      answers++;
      const deferred = pending.get(message.id);
      if (finished || !vm || !deferred) return;
      pending.delete(message.id);
      if (message.type === "result") {
        const text = vm.newString(message.text);
        deferred.resolve(text);
        text.dispose();
      } else {
        const error = vm.newError(message.message);
        deferred.reject(error);
        error.dispose();
      }
      deferred.dispose();
      pump();
    }

    function readOutput(value: QuickJSHandle): { output: string | null; error: string | null } {
      const kind = vm!.typeof(value);
      if (kind === "number" || kind === "boolean") return { output: String(vm!.dump(value)), error: null };
      if (kind !== "string") return { output: null, error: `the workflow returned ${kind}, not a string` };
      const text = vm!.getString(value);
      if (text.length > limits.maxOutputChars) return { output: null, error: `output of ${text.length} characters exceeds the limit of ${limits.maxOutputChars}` };
      return { output: text, error: null };
    }

    /** Runs the guest's ready promise jobs, then checks whether the workflow has finished. */
    function pump(): void {
      if (finished || !vm || !runtime || !workflowPromise) return;
      startSlice();
      const jobs = runtime.executePendingJobs();
      if (jobs.error) {
        closing = true;
        // Ordinary exceptions become promise rejections; a failing job was interrupted or out of memory.
        const reason = errorText(jobs.error);
        jobs.error.dispose();
        return finish(null, classify(reason));
      }
      if (stopReason) return finish(null, stopReason);
      const state = vm.getPromiseState(workflowPromise);
      if (state.type !== "pending") closing = true;
      if (state.type === "fulfilled") {
        const { output, error } = readOutput(state.value);
        state.value.dispose();
        finish(output, error);
      } else if (state.type === "rejected") {
        const reason = errorText(state.error);
        state.error.dispose();
        finish(null, classify(reason));
      } else if (pending.size === 0) {
        finish(null, "the workflow is waiting on a promise that can never settle (no operator call is in flight)");
      } else {
        send({ type: "idle", runId, answers });
      }
    }

    function failFromGuest(errorHandle: QuickJSHandle, what: string): void {
      closing = true;
      const reason = errorText(errorHandle);
      errorHandle.dispose();
      const classified = classify(reason);
      finish(null, classified.startsWith("the workflow failed: ") ? `${what}: ${reason}` : classified);
    }

    async function run(): Promise<void> {
      const engine = await core.newQuickJSWASMModuleFromVariant(variant);
      runtime = engine.newRuntime();
      runtime.setMemoryLimit(limits.memoryMb * 1024 * 1024);
      runtime.setMaxStackSize(STACK_BYTES);
      // Workflows only orchestrate; a long stretch of computation without yielding is stopped here
      // (the host's deadline stops the whole thread regardless).
      runtime.setInterruptHandler(() => {
        if (stopReason === null && computedMs() > limits.maxComputeMs) {
          stopReason = `the workflow computed for more than ${limits.maxComputeMs} ms without calling an operator`;
        }
        return stopReason !== null;
      });
      vm = runtime.newContext();
      send({ type: "ready", runId, threadId });
      startSlice();
      vm.unwrapResult(vm.evalCode(start.prelude, "prelude.js")).dispose();

      const declared = vm.evalCode(start.code, "workflow.js");
      if (declared.error) return failFromGuest(declared.error, "the workflow did not load");
      declared.value.dispose();
      const fn = vm.getProp(vm.global, "workflow");
      if (vm.typeof(fn) !== "function") {
        fn.dispose();
        return finish(null, "the program does not define a function `workflow`");
      }
      const ops = vm.newObject();
      for (const op of start.operators) {
        const hostFn = vm.newFunction(op.name, (...handles: QuickJSHandle[]) => operatorCall(op, handles));
        vm.setProp(ops, op.name, hostFn);
        hostFn.dispose();
      }
      const called = vm.callFunction(fn, vm.undefined, ops);
      fn.dispose();
      ops.dispose();
      if (called.error) return failFromGuest(called.error, "the workflow threw");
      workflowPromise = called.value;
      pump();
    }

    /** Anything escaping the engine (a wasm trap, the host stack overflowing) ends this run only. */
    function guarded(action: () => void | Promise<void>): void {
      try {
        const result = action();
        if (result) result.catch((error: unknown) => finish(null, classify(String((error as Error)?.message ?? error))));
      } catch (error) {
        finish(null, classify(String((error as Error)?.message ?? error)));
      }
    }

    guarded(run);
    return (message) => guarded(() => settle(message));
  }
}
