// What the loop needs from a task family: the training queries with the generator's prompt, how to
// turn a completion into a workflow (or say why it is invalid), and how to execute and score one.

export interface TaskQuery {
  id: string;
  /** The generator's prompt: text (tokenized by the generator) or exact token ids. */
  prompt: string | number[];
}

export type ParsedCompletion = { ok: true; workflow: string } | { ok: false; reason: string };

export interface ExecutionResult {
  /** In [0, 1]. */
  score: number;
  /** Why the run failed (it then scores 0), or null. */
  error: string | null;
  /** Prompt plus completion tokens the executor spent on this run (0 when it made no calls). */
  executorTokens: number;
}

export interface WorkflowTask {
  /** Shown in every summary. */
  readonly name: string;
  /** True for the demo's simulated family: every output says so. */
  readonly simulated: boolean;
  readonly queries: readonly TaskQuery[];
  /** Stop strings for the generator (e.g. the closing workflow tag). */
  readonly stop: string[];
  /** A GBNF grammar the generator's completions must follow (grammar-constrained generation), if any. */
  readonly grammar?: string;
  /** `finishReason` "eog": the last token is the model's end-of-generation token. */
  parse(completion: { text: string; tokens: readonly number[]; finishReason: string }, query: TaskQuery): ParsedCompletion;
  /** Runs the workflow once; `run` distinguishes the scoreRuns executions. Never throws for anything the workflow does. */
  execute(workflow: string, query: TaskQuery, run: number): Promise<ExecutionResult>;
  close(): Promise<void>;
}
