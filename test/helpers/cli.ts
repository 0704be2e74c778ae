// Runs CLI commands as `spogw-native` would: in this process through yargs, capturing what the command
// writes, or as the real command line in its own process, run from the TypeScript sources by vite-node
// (no build step needed).
import { spawn, type ChildProcess } from "node:child_process";
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

/** `spogw-native ARGS` in its own process, from source. */
export function spawnCli(args: string[]): ChildProcess {
  return spawnTypeScript("src/cli/cli.ts", args);
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
