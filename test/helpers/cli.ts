// Runs one CLI command in-process as the CLI would parse it, capturing what it writes.
import yargs, { type CommandModule } from "yargs";
import { vi } from "vitest";

export async function runCommand(command: CommandModule<object, any>, args: string[]): Promise<{ stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const spyOut = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => (out.push(String(chunk)), true));
  const spyErr = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => (err.push(String(chunk)), true));
  try {
    await yargs(args).command(command).strict().exitProcess(false).fail((message, error) => {
      throw error ?? new Error(message);
    }).parseAsync();
  } finally {
    spyOut.mockRestore();
    spyErr.mockRestore();
  }
  return { stdout: out.join(""), stderr: err.join("") };
}
