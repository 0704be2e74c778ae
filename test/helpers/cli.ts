// Runs CLI commands as `spogw-native` would: in this process through yargs, capturing what the command
// writes, or as the real command line in its own process: the built CLI that `spogw-native` runs
// (dist/cli/cli.js; `npm test` builds it first, and a build older than the sources is refused).
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import yargs, { type CommandModule } from "yargs";
import { vi } from "vitest";
import { repoRoot } from "./prebuilds.js";

export interface CommandOutcome {
  stdout: string;
  stderr: string;
  /** What the command failed with, or null when it succeeded. */
  error: Error | null;
}

/** Runs one command in this process as the CLI would parse it; never throws (the failure is in `error`). */
export async function commandOutcome(command: CommandModule<object, any>, args: string[]): Promise<CommandOutcome> {
  const out: string[] = [];
  const err: string[] = [];
  const spyOut = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => (out.push(String(chunk)), true));
  const spyErr = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => (err.push(String(chunk)), true));
  let error: Error | null = null;
  try {
    await yargs(args).command(command).strict().exitProcess(false).fail((message, failure) => {
      throw failure ?? new Error(message);
    }).parseAsync();
  } catch (e) {
    error = e as Error;
  } finally {
    spyOut.mockRestore();
    spyErr.mockRestore();
  }
  return { stdout: out.join(""), stderr: err.join(""), error };
}

/** Runs one command in this process as the CLI would parse it; rejects with the command's error. */
export async function runCommand(command: CommandModule<object, any>, args: string[]): Promise<{ stdout: string; stderr: string }> {
  const { stdout, stderr, error } = await commandOutcome(command, args);
  if (error) throw error;
  return { stdout, stderr };
}

/** What one command run in this process printed to stdout; rejects with the command's error. */
export async function stdoutOf(command: CommandModule<object, any>, args: string[]): Promise<string> {
  return (await runCommand(command, args)).stdout;
}

/** A TypeScript file of this repository run in its own process by vite-node, with `args` after `--`. */
export function spawnTypeScript(file: string, args: string[]): ChildProcess {
  return spawn(join(repoRoot, "node_modules", ".bin", "vite-node"), [file, "--", ...args], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
}

/** The newest modification time of any file under `dir`. */
function newestUnder(dir: string): number {
  return Math.max(...readdirSync(dir, { withFileTypes: true }).map((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? newestUnder(path) : statSync(path).mtimeMs;
  }));
}

/**
 * dist/cli/cli.js, refused when missing or older than a file under src/ (it would run old code). A
 * built CLI starts in about half the CPU time vite-node needs to transform the sources (1.3 s vs 2.9 s
 * measured), which decides how long the kill-and-resume test takes: it starts the CLI 40 times.
 */
export function builtCli(): string {
  const cli = join(repoRoot, "dist", "cli", "cli.js");
  if (!existsSync(cli)) throw new Error(`${cli} does not exist: run \`npm run build:ts\` (npm test does)`);
  if (newestUnder(join(repoRoot, "src")) > statSync(cli).mtimeMs) throw new Error(`${cli} is older than src/: run \`npm run build:ts\` (npm test does)`);
  return cli;
}

/** `spogw-native ARGS` in its own process. */
export function spawnCli(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [builtCli(), ...args], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
}

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Everything a child process printed, once it has exited (call before it can exit). */
export function exitOf(child: ChildProcess): Promise<ProcessExit> {
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** `spogw-native ARGS` in its own process until it exits. */
export function runCli(args: string[]): Promise<ProcessExit> {
  return exitOf(spawnCli(args));
}
