// An in-process Executor for sandbox and parser tests: answers with a function of the prompt, after an
// optional delay, honours abort signals, and records every request and the peak number in flight.
// The real executors (HTTP, embedded) have their own tests in test/executor.
import { emptyStats, type CallOptions, type CompletionRequest, type CompletionResult, type Executor, type ExecutorStats } from "../../src/executor/types.js";

export interface ScriptedExecutorOptions {
  answer?: (prompt: string, request: CompletionRequest) => string;
  delayMs?: number;
}

export class ScriptedExecutor implements Executor {
  readonly model = "scripted";
  readonly requests: CompletionRequest[] = [];
  inFlight = 0;
  peakInFlight = 0;
  private readonly counters = emptyStats();

  constructor(private readonly options: ScriptedExecutorOptions = {}) {}

  async complete(request: CompletionRequest, callOptions: CallOptions = {}): Promise<CompletionResult> {
    this.requests.push(request);
    this.counters.calls++;
    this.inFlight++;
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
    try {
      if (this.options.delayMs) await abortableDelay(this.options.delayMs, callOptions.signal);
      const prompt = request.messages.map((m) => m.content).join("\n");
      const text = (this.options.answer ?? defaultAnswer)(prompt, request);
      return { text, finishReason: "stop", usage: { promptTokens: 1, completionTokens: 1 }, model: this.model, cached: false };
    } finally {
      this.inFlight--;
    }
  }

  stats(): ExecutorStats {
    return { ...this.counters };
  }

  async close(): Promise<void> {}
}

/** Picks B in ensembles, otherwise answers with a fixed line naming the call number. */
function defaultAnswer(prompt: string): string {
  if (prompt.includes("<solution_letter>")) return "<thought>B agrees with C</thought><solution_letter>B</solution_letter>";
  return "The answer is 42.";
}

function abortableDelay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Error("aborted"));
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(new Error("aborted"));
    }, { once: true });
  });
}
